"""moto_guard.Guard as a WSGI middleware in front of a stand-in application: who gets through, and what the others
are told (real moto behind it, with real clients: tests/integration/test_security.py)."""

from __future__ import annotations

import io
import json
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from mcv_core.local.moto_guard import ADMIN_HEADER, Guard

KEY, SECRET, REGION, TOKEN = "AKIAMCVTESTKEY000001", "mcv/test+secret=key0123456789abcdefghij", "ap-northeast-1", "admin-token"
HOST = "127.0.0.1:4566"


class Inner:
    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.seen.append(environ["wsgi.input"].read())  # the body is still there for moto to read
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"moto"]


def call(guard: Guard, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[str, dict[str, str], bytes]:
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "RAW_URI": path,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in headers.items():
        if name.lower() == "content-type":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(response_headers)

    data = b"".join(guard(environ, start_response))
    return answer["status"], answer["headers"], data


def signed(body: bytes, secret: str = SECRET, content_type: str = "application/x-amz-json-1.0") -> dict[str, str]:
    request = AWSRequest(
        method="POST", url=f"http://{HOST}/", data=body, headers={"Content-Type": content_type, "X-Amz-Target": "DynamoDB_20120810.ListTables"}
    )
    SigV4Auth(Credentials(KEY, secret), "dynamodb", REGION).add_auth(request)
    return {"Host": HOST, **dict(request.headers.items())}


def test_a_request_signed_with_the_local_key_reaches_moto_with_its_body() -> None:
    inner = Inner()
    guard = Guard(inner, KEY, SECRET, REGION, TOKEN)
    status, _, data = call(guard, "POST", "/", signed(b"{}"), b"{}")
    assert (status, data, inner.seen) == ("200 OK", b"moto", [b"{}"])


def test_a_wrong_secret_gets_the_json_error_of_the_json_protocols() -> None:
    inner = Inner()
    status, headers, data = call(Guard(inner, KEY, SECRET, REGION, TOKEN), "POST", "/", signed(b"{}", "x" * 40), b"{}")
    assert status.startswith("403") and not inner.seen
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert json.loads(data)["__type"] == "InvalidSignatureException"


def test_an_unsigned_request_gets_an_xml_error() -> None:
    inner = Inner()
    status, headers, data = call(Guard(inner, KEY, SECRET, REGION, TOKEN), "GET", "/", {"Host": HOST})
    assert status.startswith("403") and headers["Content-Type"] == "text/xml" and not inner.seen
    assert b"<Code>MissingAuthenticationTokenException</Code>" in data


def test_motos_own_api_needs_the_admin_token() -> None:
    inner = Inner()
    guard = Guard(inner, KEY, SECRET, REGION, TOKEN)
    assert call(guard, "POST", "/moto-api/reset", {"Host": HOST})[0].startswith("403")
    assert call(guard, "POST", "/moto-api/reset", {"Host": HOST, ADMIN_HEADER: "wrong"})[0].startswith("403")
    assert not inner.seen
    assert call(guard, "POST", "/moto-api/reset", {"Host": HOST, ADMIN_HEADER: TOKEN})[0] == "200 OK"
