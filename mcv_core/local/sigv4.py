"""Checking AWS Signature Version 4 on requests the local cloud receives (the AI emulator, and moto behind
moto_guard.py), with botocore's own signer: in the Authorization header, or in the query string of a presigned URL."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW_S = 15 * 60  # AWS rejects requests signed more than 15 minutes away from its clock
# x-amz-content-sha256 values that stand for a payload not covered by the signature (S3 uploads): the value itself
# is what is signed.
UNSIGNED_PAYLOADS = frozenset(
    {
        "UNSIGNED-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
    }
)
_QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature")


@dataclass(frozen=True)
class AuthFailure:
    code: str
    message: str


def verify(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    body: bytes,
    access_key_id: str,
    secret_access_key: str,
    host: str,
    expected_service: str | None,
    expected_region: str,
    *,
    check_clock: bool = True,
    unsigned_payloads: bool = False,
) -> AuthFailure | None:
    """None when the request is signed with our key; else what AWS would answer.

    `expected_service` None accepts any service the signature names (moto serves them all on one port).
    `check_clock` False accepts a signature of any age (moto's recording is replayed through the check at start).
    `unsigned_payloads` accepts the S3 payload markers of UNSIGNED_PAYLOADS in x-amz-content-sha256.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    authorization = lower.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return AuthFailure("MissingAuthenticationTokenException", "Missing Authentication Token")
    try:
        parts = dict(part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(","))
        key_id, date, region, service, terminator = parts["Credential"].split("/")
        signed_headers = parts["SignedHeaders"].split(";")
        signature = parts["Signature"]
        timestamp = lower["x-amz-date"]
    except (KeyError, ValueError):
        return AuthFailure("IncompleteSignatureException", "The request signature is malformed.")
    if key_id != access_key_id:
        return AuthFailure("UnrecognizedClientException", "The security token included in the request is invalid.")
    if region != expected_region or (expected_service is not None and service != expected_service):
        return AuthFailure(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and service: expected {expected_region}/{expected_service}, "
            f"got {region}/{service}.",
        )
    claimed = lower.get("x-amz-content-sha256")
    unsigned = unsigned_payloads and claimed in UNSIGNED_PAYLOADS
    if claimed is not None and not unsigned and claimed != hashlib.sha256(body).hexdigest():
        # botocore's signer trusts this header as the payload hash: it must be the body's, or the body is unsigned.
        return AuthFailure("InvalidSignatureException", "The provided x-amz-content-sha256 header does not match the body.")
    try:
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return AuthFailure("IncompleteSignatureException", "X-Amz-Date is not a SigV4 timestamp.")
    skewed = check_clock and abs((datetime.now(timezone.utc) - signed_at).total_seconds()) > MAX_SKEW_S
    if skewed or date != timestamp[:8]:
        return AuthFailure("InvalidSignatureException", "Signature expired or not yet valid.")
    request = AWSRequest(
        method=method,
        url=f"http://{host}{raw_path}",
        headers={name: lower.get(name, host if name == "host" else "") for name in signed_headers},
        data=body,
    )
    request.context["timestamp"] = timestamp
    # S3 signs its path as sent (no second round of URI encoding, no normalisation); the other services do not.
    signer_class = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = signer_class(Credentials(access_key_id, secret_access_key), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if terminator != "aws4_request" or not hmac.compare_digest(expected, signature):
        return AuthFailure(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return None


def verify_presigned(
    method: str,
    raw_path: str,
    headers: dict[str, str],
    access_key_id: str,
    secret_access_key: str,
    host: str,
    expected_region: str,
) -> AuthFailure | None:
    """None when `raw_path` (path and query) is an S3 URL presigned with our key and not expired; else S3's answer."""
    split = urlsplit(raw_path)
    pairs = parse_qsl(split.query, keep_blank_values=True)
    params = dict(pairs)
    try:
        key_id, date, region, service, terminator = params["X-Amz-Credential"].split("/")
        timestamp, expires = params["X-Amz-Date"], int(params["X-Amz-Expires"])
        signature = params["X-Amz-Signature"]
        signed_headers = params["X-Amz-SignedHeaders"].split(";")
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except (KeyError, ValueError):
        return AuthFailure("AuthorizationQueryParametersError", "The presigned URL's authorization parameters are malformed.")
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or terminator != "aws4_request" or date != timestamp[:8]:
        return AuthFailure("AuthorizationQueryParametersError", "The presigned URL's authorization parameters are malformed.")
    if key_id != access_key_id:
        return AuthFailure("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    if region != expected_region:
        return AuthFailure("AuthorizationQueryParametersError", f"The URL is signed for region {region}, not {expected_region}.")
    age = (datetime.now(timezone.utc) - signed_at).total_seconds()
    if age > expires or age < -MAX_SKEW_S:
        return AuthFailure("AccessDenied", "Request has expired")
    # Sign the same request again (the URL without its authorization parameters) and compare.
    lower = {k.lower(): v for k, v in headers.items()}
    rest = urlencode([(k, v) for k, v in pairs if k not in _QUERY_AUTH])
    request = AWSRequest(
        method=method,
        url=f"http://{host}{split.path}" + (f"?{rest}" if rest else ""),
        headers={name: lower.get(name, host if name == "host" else "") for name in signed_headers},
    )
    request.context["timestamp"] = timestamp
    S3SigV4QueryAuth(Credentials(access_key_id, secret_access_key), service, region, expires=expires).add_auth(request)
    expected = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True)).get("X-Amz-Signature", "")
    if not hmac.compare_digest(expected, signature):
        return AuthFailure(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        )
    return None
