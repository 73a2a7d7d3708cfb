"""moto's server with the local cloud's credentials checked in front of it.

moto on its own answers any request, whatever key signed it. This runs moto's own WSGI application (as
`python -m moto.server` does) behind a check of AWS Signature Version 4 with the local cloud's key
(state.Credentials): in the Authorization header, or in a presigned URL's query string. A request signed with
another key, with a wrong secret, or not signed at all gets 403 with the error AWS would send. moto's own API
(`/moto-api/...`: recorder, reset, state) answers only requests carrying the admin token the supervisor passes
in this process's environment.

The clock is not checked on header signatures: moto's recording (every request it served, signed when it was
made) is replayed through this check at start. Presigned URLs are checked for expiry.

Run by aws_server.MotoProcess: `python -m mcv_core.local.moto_guard -H 127.0.0.1 -p PORT`, with
MCV_MOTO_ACCESS_KEY_ID, MCV_MOTO_SECRET_ACCESS_KEY, MCV_MOTO_REGION and MCV_MOTO_ADMIN_TOKEN in the environment.
"""

from __future__ import annotations

import argparse
import hmac
import io
import json
import os
import signal
import sys
from typing import Any, Callable, Iterable
from xml.sax.saxutils import escape

from . import sigv4

ADMIN_HEADER = "X-MCV-Admin-Token"
_ADMIN_ENVIRON = "HTTP_" + ADMIN_HEADER.upper().replace("-", "_")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Guard:
    def __init__(self, app: WSGIApp, access_key_id: str, secret_access_key: str, region: str, admin_token: str) -> None:
        self.app = app
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.admin_token = admin_token

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            if not hmac.compare_digest(environ.get(_ADMIN_ENVIRON, "").encode(), self.admin_token.encode()):
                return _deny(environ, start_response, "AccessDenied", "moto's API is for the local cloud's supervisor only")
            return self.app(environ, start_response)
        body = _read_body(environ)
        failure = self.check(environ, body)
        if failure is not None:
            return _deny(environ, start_response, failure.code, failure.message)
        return self.app(environ, start_response)

    def check(self, environ: dict[str, Any], body: bytes) -> sigv4.AuthFailure | None:
        headers = _headers(environ)
        raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or _raw_path(environ)
        host = headers.get("Host", "")
        query = environ.get("QUERY_STRING", "")
        if "Authorization" not in headers and "X-Amz-Credential=" in query:
            return sigv4.verify_presigned(
                environ["REQUEST_METHOD"], raw_path, headers, self.access_key_id, self.secret_access_key, host, self.region
            )
        return sigv4.verify(
            environ["REQUEST_METHOD"],
            raw_path,
            headers,
            body,
            self.access_key_id,
            self.secret_access_key,
            host,
            expected_service=None,
            expected_region=self.region,
            check_clock=False,
            unsigned_payloads=True,
        )


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").title()] = environ[key]
    return headers


def _raw_path(environ: dict[str, Any]) -> str:
    from urllib.parse import quote

    path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/~")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _read_body(environ: dict[str, Any]) -> bytes:
    """The whole request body, put back for moto to read again."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _deny(environ: dict[str, Any], start_response: StartResponse, code: str, message: str) -> Iterable[bytes]:
    """403 in the shape the caller's protocol expects: JSON for the JSON protocols, XML for the others."""
    content_type = environ.get("CONTENT_TYPE", "")
    if "json" in content_type or environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)]
    else:
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error><RequestId>local</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    start_response("403 Forbidden", [*headers, ("Content-Length", str(len(body)))])
    return [body]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    env = os.environ
    try:
        key, secret, region, token = (
            env["MCV_MOTO_ACCESS_KEY_ID"],
            env["MCV_MOTO_SECRET_ACCESS_KEY"],
            env["MCV_MOTO_REGION"],
            env["MCV_MOTO_ADMIN_TOKEN"],
        )
    except KeyError as missing:
        sys.exit(f"error: {missing.args[0]} is not set: this server is started by the local cloud's supervisor")
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto.server sets it (moto builds URLs from it)

    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = Guard(DomainDispatcherApplication(create_backend_app), key, secret, region, token)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
