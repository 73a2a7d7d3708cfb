"""The project's error classes, in one place.

Two families: `UsageError` (the user asked for something that cannot be done: bad input, a missing
setting; the command line exits 2) and `ProviderError` (a provider call failed; the error is recorded in
that provider's result and never stops the others). Every error carries a `hint` that says what to do.
"""

from __future__ import annotations

from typing import Any


class MCVError(Exception):
    """Base of every error this project raises on purpose."""

    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def user_text(self) -> str:
        """One line for a person: what happened, then what to do."""
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(MCVError):
    """Bad input or usage; shown to the user as is."""


class ConfigError(UsageError):
    """A setting is missing or invalid; the message names the variable to set."""


class ImageError(UsageError):
    """An uploaded file cannot be used as an image."""


class LocalCloudError(MCVError):
    """The embedded local cloud is not running or did not start."""


class StorageError(MCVError):
    """S3 or DynamoDB refused or failed a read or a write."""


class ProviderError(MCVError):
    """A provider call failed.

    `kind` is the stable error type stored in history; `retryable` says whether the SDK's retry policy
    treats it as transient; `status_code`, `body` and `retry_after` come from the service when it sent them.
    """

    kind = "provider_error"
    retryable = False
    hint = "see the provider's message"

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        attempts: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.body = body
        self.retry_after = retry_after
        self.attempts = attempts


class ThrottledError(ProviderError):
    kind = "throttled"
    retryable = True
    hint = "the service is rate limiting: retry later, lower the concurrency or raise the quota"


class ProviderTimeout(ProviderError):
    kind = "timeout"
    retryable = True
    hint = "no answer within the provider's timeout: raise MCV_TIMEOUT_S or try again"


class ServiceUnavailable(ProviderError):
    kind = "service_error"
    retryable = True
    hint = "the service failed on its side (5xx): try again later"


class ConnectionFailed(ProviderError):
    kind = "connection"
    retryable = True
    hint = "the endpoint could not be reached: check the endpoint URL, the network, or that the local cloud runs"


class AuthError(ProviderError):
    kind = "auth"
    hint = "the credentials were refused: check the keys, the profile or the role"


class NotFoundError(ProviderError):
    kind = "not_found"
    hint = "the endpoint, model or deployment does not exist: check its name and that it is deployed"


class InvalidRequestError(ProviderError):
    kind = "invalid_request"
    hint = "the service rejected the request: check the model id, the image and the prompt"


class MalformedResponseError(ProviderError):
    kind = "malformed_response"
    hint = "the service answered with something that is not the expected response: try again, report it if it persists"


class BatchJobFailed(ProviderError):
    """A batch job ended as failed (or expired) before it answered this record."""

    kind = "batch_job_failed"
    hint = "see the job's message; run the benchmark again, or online"


class StreamCutError(ProviderError):
    """A streamed answer that began and did not finish: the connection dropped, the stream ended without its end
    events, or the service sent an error event after the first text. `received` is the text that had arrived,
    `ttft_ms` when it began; the result keeps both (an error before the first text is mapped as any other)."""

    kind = "stream_cut"
    retryable = False
    hint = "the answer stopped in the middle: try again; if it keeps happening, check the network and the service's health"

    def __init__(self, message: str, *, received: str = "", ttft_ms: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.received = received
        self.ttft_ms = ttft_ms

    @classmethod
    def after(cls, received: str, reason: str, *, ttft_ms: float | None = None, **kwargs: Any) -> "StreamCutError":
        """The error for a stream that stopped after `received`, saying why (`reason`)."""
        from .formatting import count

        return cls(f"the answer stopped after {count(len(received), 'character')}: {reason}", received=received, ttft_ms=ttft_ms, **kwargs)


class ProviderConfigError(ProviderError):
    """A provider cannot be called because a setting is missing; recorded like any other failure."""

    kind = "config"
    hint = "set the variable named in the message"


ERROR_KINDS: dict[str, type[ProviderError]] = {
    cls.kind: cls
    for cls in (
        ProviderError,
        ThrottledError,
        ProviderTimeout,
        ServiceUnavailable,
        ConnectionFailed,
        AuthError,
        NotFoundError,
        InvalidRequestError,
        MalformedResponseError,
        StreamCutError,
        ProviderConfigError,
    )
}


def hint_for(kind: str | None) -> str:
    """What to do about a stored error type (history keeps only the kind and the message)."""
    cls = ERROR_KINDS.get(kind or "")
    return cls.hint if cls else ""


class CheckFailed(MCVError):
    """A health check found something wrong: the message is what, `fix` how to repair it, `status` "fail" or
    "warn"."""

    def __init__(self, detail: str, fix: str | None = None, status: str = "fail") -> None:
        super().__init__(detail, hint=fix)
        self.detail, self.fix, self.status = detail, fix, status
