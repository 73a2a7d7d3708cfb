"""SDK exceptions -> ProviderError subclasses, in one place (botocore for AWS, openai for Azure OpenAI and
OpenAI-compatible servers). Hints that name a service's own settings are passed in by that service."""

from __future__ import annotations

from typing import Any

import botocore.eventstream
import botocore.exceptions as bce
import botocore.parsers
import urllib3.exceptions

from .. import errors as e

_THROTTLE_CODES = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "ServiceQuotaExceededException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
}
_AUTH_CODES = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "MissingAuthenticationTokenException",
}
_SERVICE_CODES = {
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "InternalServerException",
    "InternalFailure",
    "InternalServerError",
    "ModelNotReadyException",
    "ModelTimeoutException",
    "ModelStreamErrorException",
}
_NOT_FOUND_CODES = {"ResourceNotFoundException", "ResourceNotFound", "NoSuchBucket", "NoSuchKey"}


def from_botocore(exc: BaseException) -> e.ProviderError:
    """Translate any botocore exception raised by a call, or by reading its event stream (which botocore reads
    through urllib3, whose errors reach the reader as they are)."""
    if isinstance(exc, bce.ClientError):
        return _from_client_error(exc)
    if isinstance(exc, (bce.ReadTimeoutError, bce.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return e.ProviderTimeout(f"timed out: {exc}")
    if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectionClosedError, bce.ConnectionError)):
        return e.ConnectionFailed(f"could not connect: {exc}")
    if isinstance(exc, (urllib3.exceptions.ProtocolError, ConnectionError)):
        return e.ConnectionFailed(f"the connection broke: {exc}")
    if isinstance(exc, (bce.NoCredentialsError, bce.PartialCredentialsError, bce.ProfileNotFound)):
        return e.AuthError(str(exc), hint="configure AWS credentials (AWS_PROFILE, environment, SSO or a role)")
    if isinstance(exc, (botocore.parsers.ResponseParserError, botocore.eventstream.ParserError, urllib3.exceptions.DecodeError)):
        return e.MalformedResponseError(f"response could not be parsed: {exc}")
    return e.ProviderError(f"{type(exc).__name__}: {exc}")


def _from_client_error(exc: bce.ClientError) -> e.ProviderError:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code", ""))
    if isinstance(exc, bce.EventStreamError) and code:
        # An error event names its type as the stream's member does (throttlingException): the same codes.
        code = code[0].upper() + code[1:]
    message = str(error.get("Message", "")) or str(exc)
    status = meta.get("HTTPStatusCode")
    kwargs: dict[str, Any] = {
        "status_code": status,
        "attempts": int(meta.get("RetryAttempts", 0)) + 1,
    }
    text = f"{code}: {message}" if code else message
    if code in _THROTTLE_CODES or status == 429:
        return e.ThrottledError(text, **kwargs)
    if code in _AUTH_CODES or status in (401, 403):
        return e.AuthError(text, **kwargs)
    if code in _NOT_FOUND_CODES or (code in ("ValidationError", "ValidationException") and "not found" in message.lower()):
        return e.NotFoundError(text, **kwargs)
    if code == "ModelError":
        # SageMaker: the model container answered with an error of its own.
        original = exc.response.get("OriginalStatusCode")
        if original and 400 <= int(original) < 500:
            return e.InvalidRequestError(text, **kwargs, hint="the model rejected the input: check the image")
        return e.ServiceUnavailable(text, **kwargs, hint="the model container failed: see the endpoint's logs")
    if code in _SERVICE_CODES or (status is not None and status >= 500):
        return e.ServiceUnavailable(text, **kwargs)
    if status is not None and 400 <= status < 500:
        return e.InvalidRequestError(text, **kwargs)
    return e.ProviderError(text, **kwargs)


def from_batch_record(status: int | None, code: str | None, message: str) -> e.ProviderError:
    """A record that failed inside a batch job, as the job's output reports it (an HTTP-like status and the
    service's code and message): the same types as the call would have raised."""
    text = f"{code}: {message}" if code else message
    if status == 429 or code in _THROTTLE_CODES:
        return e.ThrottledError(text, status_code=status)
    if status in (401, 403) or code in _AUTH_CODES:
        return e.AuthError(text, status_code=status)
    if status is not None and status >= 500 or code in _SERVICE_CODES:
        return e.ServiceUnavailable(text, status_code=status)
    if status is not None and 400 <= status < 500:
        return e.InvalidRequestError(text, status_code=status)
    return e.ProviderError(text, status_code=status)


def from_openai(exc: Exception, *, auth_hint: str | None = None, not_found_hint: str | None = None) -> e.ProviderError:
    """Translate any openai exception raised by a call; the hints say what to check on this service."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return e.ProviderTimeout(f"timed out: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return e.ConnectionFailed(f"could not connect: {exc}")
    if isinstance(exc, openai.APIResponseValidationError):
        return e.MalformedResponseError(f"response did not validate: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = _body_text(exc)
        retry_after = _retry_after(exc)
        kwargs: dict[str, Any] = {"status_code": status, "body": body, "retry_after": retry_after}
        message = _openai_message(exc)
        if status == 429:
            return e.ThrottledError(message, **kwargs)
        if status in (401, 403):
            return e.AuthError(message, **kwargs, hint=auth_hint)
        if status == 404:
            return e.NotFoundError(message, **kwargs, hint=not_found_hint)
        if status >= 500:
            return e.ServiceUnavailable(message, **kwargs)
        return e.InvalidRequestError(message, **kwargs)
    if isinstance(exc, openai.OpenAIError):
        return e.ProviderError(f"{type(exc).__name__}: {exc}")
    return e.ProviderError(f"{type(exc).__name__}: {exc}")


def _openai_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            code = inner.get("code")
            return f"{code}: {inner['message']}" if code else str(inner["message"])
    return str(getattr(exc, "message", exc))


def _body_text(exc: Any) -> str | None:
    response = getattr(exc, "response", None)
    try:
        return response.text[:2000] if response is not None else None
    except RuntimeError:  # httpx: a streamed body that was never read
        return None


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
