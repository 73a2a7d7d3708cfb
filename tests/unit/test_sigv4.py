"""SigV4 verification of what the AI emulator receives: requests signed by botocore itself, then tampered with.

The unit half signs `AWSRequest`s with `SigV4Auth` exactly as botocore's clients do; the end-to-end half puts
`sigv4.verify` behind a tiny HTTP server on 127.0.0.1 and calls it with real boto3 clients.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import boto3
import botocore.auth
import botocore.exceptions as bce
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from mcv_core.local import sigv4

ACCESS_KEY = "AKIAMCVTESTKEY000001"
SECRET = "mcv/test+secret=key0123456789abcdefghij"  # '/', '+' and '=' as real secrets have them
REGION = "ap-northeast-1"
HOST = "127.0.0.1:4599"

CONVERSE_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
INVOKE_PATH = "/endpoints/mc-vision-endpoint/invocations"
CONVERSE_BODY = json.dumps(
    {
        "messages": [{"role": "user", "content": [{"text": "この画像を説明して"}, {"image": {"format": "jpeg"}}]}],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.0},
    },
    ensure_ascii=False,
).encode()
INVOKE_BODY = json.dumps({"image": "/9j/4AAQSkZJRg==", "top_k": 5}).encode()

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method."
)


def sign(
    path: str,
    body: bytes,
    *,
    service: str,
    key: str = ACCESS_KEY,
    secret: str = SECRET,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers a server receives for a botocore-signed POST (Host included, as on the wire)."""
    request = AWSRequest(
        method="POST",
        url=f"http://{HOST}{path}",
        data=body,
        headers={"Content-Type": "application/json", **(extra_headers or {})},
    )
    SigV4Auth(Credentials(key, secret), service, REGION).add_auth(request)
    return {"Host": HOST, **dict(request.headers.items())}


def signing_name(path: str) -> str:
    return "bedrock" if path.startswith("/model/") else "sagemaker"


def verify(path: str, headers: dict[str, str], body: bytes) -> sigv4.AuthFailure | None:
    return sigv4.verify(
        "POST", path, headers, body, ACCESS_KEY, SECRET, HOST, expected_service=signing_name(path), expected_region=REGION
    )


def signed_at(monkeypatch: pytest.MonkeyPatch, when: datetime) -> None:
    """Make botocore's signer believe it is `when` (it asks botocore.auth.get_current_datetime)."""
    naive_utc = when.astimezone(timezone.utc).replace(tzinfo=None)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *args, **kwargs: naive_utc)


# --- accepted ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "path", "body"),
    [
        ("sagemaker", INVOKE_PATH, INVOKE_BODY),
        ("bedrock", CONVERSE_PATH, CONVERSE_BODY),
        ("bedrock", "/model/us.anthropic.claude-3-haiku-20240307-v1%3A0/converse", CONVERSE_BODY),
        ("sagemaker", INVOKE_PATH, b""),
    ],
    ids=["sagemaker-invoke", "bedrock-converse-encoded-colon", "bedrock-inference-profile", "sagemaker-empty-body"],
)
def test_botocore_signed_request_is_accepted(service: str, path: str, body: bytes) -> None:
    headers = sign(path, body, service=service)
    assert headers["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert f"/{REGION}/{service}/aws4_request" in headers["Authorization"]
    assert verify(path, headers, body) is None


@pytest.mark.parametrize(("service", "region"), [("bedrock", REGION), ("sagemaker", "us-west-2")])
def test_signature_scoped_to_another_service_or_region_is_rejected(service: str, region: str) -> None:
    request = AWSRequest(method="POST", url=f"http://{HOST}{INVOKE_PATH}", data=INVOKE_BODY, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(ACCESS_KEY, SECRET), service, region).add_auth(request)
    failure = verify(INVOKE_PATH, {"Host": HOST, **dict(request.headers.items())}, INVOKE_BODY)
    assert failure is not None and failure.code == "InvalidSignatureException"
    assert "scoped" in failure.message


def test_header_names_are_case_insensitive() -> None:
    headers = sign(CONVERSE_PATH, CONVERSE_BODY, service="bedrock")
    lowered = {name.lower(): value for name, value in headers.items()}
    assert verify(CONVERSE_PATH, lowered, CONVERSE_BODY) is None


def test_signature_14_minutes_old_is_still_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    signed_at(monkeypatch, datetime.now(timezone.utc) - timedelta(minutes=14))
    headers = sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker")
    assert verify(INVOKE_PATH, headers, INVOKE_BODY) is None


# --- rejected ------------------------------------------------------------------------------------------


def test_wrong_access_key_id_is_unrecognized_client() -> None:
    headers = sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker", key="AKIASOMEBODYELSE0001")
    assert verify(INVOKE_PATH, headers, INVOKE_BODY) == sigv4.AuthFailure(
        "UnrecognizedClientException", "The security token included in the request is invalid."
    )


def test_wrong_secret_is_invalid_signature() -> None:
    headers = sign(CONVERSE_PATH, CONVERSE_BODY, service="bedrock", secret="not-the-secret-of-the-local-cloud00000")
    assert verify(CONVERSE_PATH, headers, CONVERSE_BODY) == sigv4.AuthFailure("InvalidSignatureException", SIGNATURE_MISMATCH)


@pytest.mark.parametrize(
    "tampered",
    [
        CONVERSE_BODY.replace(b"300", b"999"),
        CONVERSE_BODY + b" ",
        b"",
    ],
    ids=["changed-value", "trailing-space", "emptied"],
)
def test_tampered_body_is_invalid_signature(tampered: bytes) -> None:
    headers = sign(CONVERSE_PATH, CONVERSE_BODY, service="bedrock")
    assert verify(CONVERSE_PATH, headers, tampered) == sigv4.AuthFailure("InvalidSignatureException", SIGNATURE_MISMATCH)


@pytest.mark.parametrize("claimed", ["body-hash", "UNSIGNED-PAYLOAD"])
def test_tampered_body_is_rejected_even_with_a_content_sha256_header(claimed: str) -> None:
    value = hashlib.sha256(CONVERSE_BODY).hexdigest() if claimed == "body-hash" else "UNSIGNED-PAYLOAD"
    headers = sign(CONVERSE_PATH, CONVERSE_BODY, service="bedrock", extra_headers={"X-Amz-Content-SHA256": value})
    assert "x-amz-content-sha256" in headers["Authorization"]  # the header is signed
    assert verify(CONVERSE_PATH, headers, b'{"messages": "something else entirely"}') is not None


@pytest.mark.parametrize(
    ("signed_path", "received_path"),
    [
        (INVOKE_PATH, "/endpoints/another-endpoint/invocations"),
        (CONVERSE_PATH, "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/converse"),
        (CONVERSE_PATH, CONVERSE_PATH + "?trace=1"),
    ],
    ids=["endpoint-name", "model-id", "query-added"],
)
def test_tampered_path_is_invalid_signature(signed_path: str, received_path: str) -> None:
    body = INVOKE_BODY if signed_path == INVOKE_PATH else CONVERSE_BODY
    headers = sign(signed_path, body, service="sagemaker" if signed_path == INVOKE_PATH else "bedrock")
    assert verify(received_path, headers, body) == sigv4.AuthFailure("InvalidSignatureException", SIGNATURE_MISMATCH)


def test_tampered_signed_header_is_invalid_signature() -> None:
    headers = sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker")
    headers["Content-Type"] = "application/x-npy"
    assert verify(INVOKE_PATH, headers, INVOKE_BODY) == sigv4.AuthFailure("InvalidSignatureException", SIGNATURE_MISMATCH)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer abc.def.ghi", "AWS AKIAMCVTESTKEY000001:c2lnbmF0dXJl"],
    ids=["absent", "empty", "bearer", "sigv2"],
)
def test_missing_authorization_is_missing_token(authorization: str | None) -> None:
    headers = sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker")
    del headers["Authorization"]
    if authorization is not None:
        headers["Authorization"] = authorization
    assert verify(INVOKE_PATH, headers, INVOKE_BODY) == sigv4.AuthFailure(
        "MissingAuthenticationTokenException", "Missing Authentication Token"
    )


def _malformed(headers: dict[str, str], case: str) -> dict[str, str]:
    auth = headers["Authorization"]
    if case == "no-signature":
        headers["Authorization"] = auth.split(", Signature=")[0]
    elif case == "no-signed-headers":
        headers["Authorization"] = ", ".join(p for p in auth.split(", ") if not p.startswith("SignedHeaders="))
    elif case == "short-credential-scope":
        headers["Authorization"] = auth.replace(f"/{REGION}/sagemaker/aws4_request", "/sagemaker/aws4_request")
    elif case == "garbage":
        headers["Authorization"] = "AWS4-HMAC-SHA256 garbage"
    elif case == "no-x-amz-date":
        del headers["X-Amz-Date"]
    elif case == "bad-x-amz-date":
        headers["X-Amz-Date"] = "yesterday"
    return headers


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-signature", "The request signature is malformed."),
        ("no-signed-headers", "The request signature is malformed."),
        ("short-credential-scope", "The request signature is malformed."),
        ("garbage", "The request signature is malformed."),
        ("no-x-amz-date", "The request signature is malformed."),
        ("bad-x-amz-date", "X-Amz-Date is not a SigV4 timestamp."),
    ],
)
def test_malformed_authorization_is_incomplete_signature(case: str, message: str) -> None:
    headers = _malformed(sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker"), case)
    assert verify(INVOKE_PATH, headers, INVOKE_BODY) == sigv4.AuthFailure("IncompleteSignatureException", message)


@pytest.mark.parametrize("offset", [timedelta(minutes=-16), timedelta(hours=-6), timedelta(minutes=16)], ids=["16min-old", "6h-old", "16min-ahead"])
def test_timestamp_more_than_15_minutes_away_is_rejected(monkeypatch: pytest.MonkeyPatch, offset: timedelta) -> None:
    signed_at(monkeypatch, datetime.now(timezone.utc) + offset)
    headers = sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker")
    assert verify(INVOKE_PATH, headers, INVOKE_BODY) == sigv4.AuthFailure(
        "InvalidSignatureException", "Signature expired or not yet valid."
    )


def test_credential_scope_date_must_match_timestamp() -> None:
    headers = sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker")
    day = headers["X-Amz-Date"][:8]
    other_day = (datetime.strptime(day, "%Y%m%d") - timedelta(days=1)).strftime("%Y%m%d")
    headers["Authorization"] = headers["Authorization"].replace(f"/{day}/", f"/{other_day}/")
    assert verify(INVOKE_PATH, headers, INVOKE_BODY) == sigv4.AuthFailure(
        "InvalidSignatureException", "Signature expired or not yet valid."
    )


# --- end to end: real boto3 clients against a loopback server that runs verify ---------------------------


class _VerifyingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str]]  # (path, verdict), set per server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        failure = sigv4.verify(
            self.command,
            self.path,
            dict(self.headers.items()),
            body,
            ACCESS_KEY,
            SECRET,
            self.headers.get("Host", ""),
            expected_service=signing_name(self.path),
            expected_region=REGION,
        )
        self.seen.append((self.path, failure.code if failure else "ok"))
        if failure is not None:
            self._reply(403, {"message": failure.message}, {"x-amzn-ErrorType": f"{failure.code}:http://internal.amazon.com/"})
        elif self.path.endswith("/converse"):
            self._reply(
                200,
                {
                    "output": {"message": {"role": "assistant", "content": [{"text": "verified"}]}},
                    "stopReason": "end_turn",
                    "usage": {"inputTokens": 3, "outputTokens": 1, "totalTokens": 4},
                    "metrics": {"latencyMs": 7},
                },
            )
        else:
            self._reply(200, {"verified": True, "bytes": len(body)})

    def _reply(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def verifying_server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_VerifyingHandler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _client(service: str, url: str, key: str = ACCESS_KEY, secret: str = SECRET, config: Config | None = None):  # noqa: ANN202
    return boto3.client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=config or Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )


def test_boto3_invoke_endpoint_with_the_right_secret_is_accepted(verifying_server) -> None:  # noqa: ANN001
    url, seen = verifying_server
    response = _client("sagemaker-runtime", url).invoke_endpoint(
        EndpointName="mc-vision-endpoint", Body=INVOKE_BODY, ContentType="application/json", Accept="application/json"
    )
    assert json.loads(response["Body"].read()) == {"verified": True, "bytes": len(INVOKE_BODY)}
    assert seen == [(INVOKE_PATH, "ok")]


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        (ACCESS_KEY, "wrong-secret-wrong-secret-wrong-secret00", "InvalidSignatureException"),
        ("AKIASOMEBODYELSE0001", SECRET, "UnrecognizedClientException"),
    ],
    ids=["wrong-secret", "wrong-key-id"],
)
def test_boto3_invoke_endpoint_with_wrong_credentials_is_refused(verifying_server, key: str, secret: str, code: str) -> None:  # noqa: ANN001
    url, seen = verifying_server
    with pytest.raises(bce.ClientError) as info:
        _client("sagemaker-runtime", url, key, secret).invoke_endpoint(
            EndpointName="mc-vision-endpoint", Body=INVOKE_BODY, ContentType="application/json"
        )
    assert info.value.response["Error"]["Code"] == code
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert seen == [(INVOKE_PATH, code)]


def test_boto3_converse_with_a_colon_in_the_model_id_is_accepted(verifying_server) -> None:  # noqa: ANN001
    url, seen = verifying_server
    response = _client("bedrock-runtime", url).converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "What is in this image?"}]}],
    )
    assert response["output"]["message"]["content"] == [{"text": "verified"}]
    # The client percent-encodes the colon and signs that path; verify must canonicalise it the same way.
    assert seen == [(CONVERSE_PATH, "ok")]


def test_boto3_converse_with_a_wrong_secret_is_refused(verifying_server) -> None:  # noqa: ANN001
    url, seen = verifying_server
    with pytest.raises(bce.ClientError) as info:
        _client("bedrock-runtime", url, secret="wrong-secret-wrong-secret-wrong-secret00").converse(
            modelId="anthropic.claude-3-haiku-20240307-v1:0",
            messages=[{"role": "user", "content": [{"text": "What is in this image?"}]}],
        )
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert seen == [(CONVERSE_PATH, "InvalidSignatureException")]


# --- as moto_guard.py uses it: any service, no clock, S3 payload markers, presigned URLs ----------------------


def test_any_service_is_accepted_when_none_is_expected() -> None:
    headers = sign("/", b"Action=ListQueues", service="sqs")
    assert sigv4.verify("POST", "/", headers, b"Action=ListQueues", ACCESS_KEY, SECRET, HOST, None, REGION) is None
    failure = sigv4.verify("POST", "/", headers, b"Action=ListQueues", ACCESS_KEY, SECRET, HOST, None, "us-east-1")
    assert failure is not None and failure.code == "InvalidSignatureException"


def test_an_old_signature_is_accepted_only_without_the_clock_check(monkeypatch: pytest.MonkeyPatch) -> None:
    signed_at(monkeypatch, datetime.now(timezone.utc) - timedelta(days=3))
    headers = sign(INVOKE_PATH, INVOKE_BODY, service="sagemaker")
    args = ("POST", INVOKE_PATH, headers, INVOKE_BODY, ACCESS_KEY, SECRET, HOST, "sagemaker", REGION)
    assert sigv4.verify(*args) is not None
    assert sigv4.verify(*args, check_clock=False) is None
    wrong = sigv4.verify("POST", INVOKE_PATH, headers, INVOKE_BODY, ACCESS_KEY, "x" * 40, HOST, "sagemaker", REGION, check_clock=False)
    assert wrong is not None and wrong.code == "InvalidSignatureException"


@pytest.mark.parametrize("marker", sorted(sigv4.UNSIGNED_PAYLOADS))
def test_s3_payload_markers_are_signed_values_only_when_allowed(marker: str) -> None:
    headers = sign("/bucket/key.jpg", b"", service="s3", extra_headers={"X-Amz-Content-SHA256": marker})
    args = ("POST", "/bucket/key.jpg", headers, b"any body", ACCESS_KEY, SECRET, HOST, "s3", REGION)
    assert sigv4.verify(*args) is not None  # the emulator never accepts an unsigned body
    assert sigv4.verify(*args, unsigned_payloads=True) is None
    tampered = {**headers, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD" if marker != "UNSIGNED-PAYLOAD" else marker + "-X"}
    assert sigv4.verify("POST", "/bucket/key.jpg", tampered, b"", ACCESS_KEY, SECRET, HOST, "s3", REGION, unsigned_payloads=True) is not None


def s3_client(secret: str = SECRET) -> Any:
    """An S3 client as the product makes one (SigV4, path-style), for HOST."""
    return _client("s3", f"http://{HOST}", secret=secret, config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


def presign(key: str = "uploads/2026/11/25/a b.jpg", expires: int = 300, secret: str = SECRET) -> str:
    client = s3_client(secret)
    url = client.generate_presigned_url("get_object", Params={"Bucket": "uploads", "Key": key}, ExpiresIn=expires)
    return url.split(HOST, 1)[1]


def check_presigned(raw_path: str) -> sigv4.AuthFailure | None:
    return sigv4.verify_presigned("GET", raw_path, {"Host": HOST}, ACCESS_KEY, SECRET, HOST, REGION)


def test_a_presigned_url_is_accepted_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_presigned(presign()) is None
    signed_at(monkeypatch, datetime.now(timezone.utc) - timedelta(seconds=301))
    old = presign()
    failure = check_presigned(old)
    assert failure is not None and (failure.code, failure.message) == ("AccessDenied", "Request has expired")


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "another object", "longer life", "another key id"],
)
def test_a_presigned_url_signed_otherwise_or_altered_is_refused(case: str) -> None:
    raw = presign()
    altered = {
        "wrong secret": presign(secret="x" * 40),
        "another object": raw.replace("a%20b.jpg", "c.jpg"),
        "longer life": raw.replace("X-Amz-Expires=300", "X-Amz-Expires=604800"),
        "another key id": raw.replace(ACCESS_KEY, "AKIAMCVSOMEONEELSE01"),
    }[case]
    assert altered != raw
    failure = check_presigned(altered)
    assert failure is not None, case
    assert failure.code == ("InvalidAccessKeyId" if case == "another key id" else "SignatureDoesNotMatch")


@pytest.mark.parametrize("key", ["uploads/tests/a notes.txt", "uploads/猫 (1).jpg", "uploads/a+b=c&d.png"])
def test_an_s3_request_for_a_key_that_needs_encoding_is_accepted(key: str) -> None:
    client = s3_client()
    seen: dict[str, object] = {}

    def capture(request: object, **kwargs: object) -> None:
        seen["request"] = request
        raise bce.EndpointConnectionError(endpoint_url=f"http://{HOST}")  # captured: nothing is sent

    client.meta.events.register("before-send.s3.PutObject", capture)
    with pytest.raises(bce.EndpointConnectionError):
        client.put_object(Bucket="uploads", Key=key, Body=b"data")
    request = seen["request"]
    path = request.url.split(HOST, 1)[1]  # type: ignore[attr-defined]
    headers = {"Host": HOST, **dict(request.headers.items())}  # type: ignore[attr-defined]
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}
    body = request.body or b""  # type: ignore[attr-defined]
    body = body if isinstance(body, bytes) else body.read()
    assert "%" in path
    assert sigv4.verify("PUT", path, headers, body, ACCESS_KEY, SECRET, HOST, None, REGION, unsigned_payloads=True) is None
