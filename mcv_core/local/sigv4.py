"""Checking AWS Signature Version 4 on requests the AI emulator receives, with botocore's own signer."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timezone

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

MAX_SKEW_S = 15 * 60  # AWS rejects requests signed more than 15 minutes away from its clock


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
    expected_service: str,
    expected_region: str,
) -> AuthFailure | None:
    """None when the request is signed with our key; else what AWS would answer."""
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
    if (service, region) != (expected_service, expected_region):
        return AuthFailure(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region and service: expected {expected_region}/{expected_service}, "
            f"got {region}/{service}.",
        )
    claimed = lower.get("x-amz-content-sha256")
    if claimed is not None and claimed != hashlib.sha256(body).hexdigest():
        # botocore's signer trusts this header as the payload hash: it must be the body's, or the body is unsigned.
        return AuthFailure("InvalidSignatureException", "The provided x-amz-content-sha256 header does not match the body.")
    try:
        signed_at = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return AuthFailure("IncompleteSignatureException", "X-Amz-Date is not a SigV4 timestamp.")
    if abs((datetime.now(timezone.utc) - signed_at).total_seconds()) > MAX_SKEW_S or date != timestamp[:8]:
        return AuthFailure("InvalidSignatureException", "Signature expired or not yet valid.")
    request = AWSRequest(
        method=method,
        url=f"http://{host}{raw_path}",
        headers={name: lower.get(name, host if name == "host" else "") for name in signed_headers},
        data=body,
    )
    request.context["timestamp"] = timestamp
    signer = SigV4Auth(Credentials(access_key_id, secret_access_key), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if terminator != "aws4_request" or not hmac.compare_digest(expected, signature):
        return AuthFailure(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return None
