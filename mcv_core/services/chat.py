"""The chat-completions wire format with one image, shared by Azure OpenAI and OpenAI-compatible servers (OpenAI,
Ollama, vLLM, LM Studio): pure request and response conversion, and the call through an openai client.

Streamed (the default): `stream=True` with `stream_options={"include_usage": True}`, read as server-sent events
by the openai SDK — chunks of text, a chunk with the finish_reason, then one with the usage and no choices.
A server that ignores stream_options sends no usage: the answer stands, its tokens (and so its rate and cost)
are unknown. Unstreamed: one ChatCompletion.
"""

from __future__ import annotations

import base64
from typing import Any, Callable, Iterable

import openai

from ..errors import MalformedResponseError
from ..images import PreparedImage
from ..records import Reply
from ..timing import StreamTimer
from . import errors


def build_request(model: str, image: PreparedImage, prompt: str, max_tokens: int, detail: str | None, temperature: float = 0.0) -> dict[str, Any]:
    """chat.completions.create() arguments; `model` is the deployment name on Azure, the model name elsewhere."""
    data_url = f"data:{image.media_type};base64,{base64.b64encode(image.data).decode('ascii')}"
    image_url: dict[str, Any] = {"url": data_url}
    if detail:
        image_url["detail"] = detail
    return {
        "model": model,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": prompt},
                    {"type": "image_url", "image_url": image_url},
                ],
            }
        ],
        "max_tokens": max_tokens,
        "temperature": temperature,
    }


def parse_response(completion: Any, model: str, image_tokens: int | None, attempts: int = 1, service: str = "the service") -> Reply:
    """A ChatCompletion (object or dict) -> Reply."""
    data = completion.model_dump() if hasattr(completion, "model_dump") else completion
    try:
        text = (data["choices"][0]["message"]["content"] or "").strip()
        usage = data["usage"]
        input_tokens = int(usage["prompt_tokens"])
        output_tokens = int(usage["completion_tokens"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"{service} returned an unexpected response: {str(data)[:200]}") from exc
    return Reply(
        output=text,
        model=str(data.get("model") or model),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        # Part of prompt_tokens; the model family's published rule for the size sent.
        image_tokens=image_tokens,
        attempts=attempts,
    )


def complete(client: Any, request: dict[str, Any], *, service: str, auth_hint: str, not_found_hint: str) -> tuple[Any, int]:
    """Send the request; (completion, attempts). SDK errors become ProviderError subclasses."""
    try:
        raw = client.chat.completions.with_raw_response.create(**request)
        return raw.parse(), raw.retries_taken + 1
    except openai.OpenAIError as exc:
        raise errors.from_openai(exc, auth_hint=auth_hint, not_found_hint=not_found_hint) from exc
    except ValueError as exc:  # a 200 whose body is not JSON: the SDK's json() raises before it can validate
        raise MalformedResponseError(f"{service} returned a body that is not JSON: {exc}") from exc


def call(
    client: Any,
    request: dict[str, Any],
    *,
    streaming: bool,
    on_text: Callable[[str], None] | None,
    image_tokens: int | None,
    service: str,
    auth_hint: str,
    not_found_hint: str,
) -> Reply:
    """One call of a chat-completions service, streamed or not; SDK errors become ProviderError subclasses."""
    model = request["model"]
    if not streaming:
        completion, attempts = complete(client, request, service=service, auth_hint=auth_hint, not_found_hint=not_found_hint)
        return parse_response(completion, model, image_tokens, attempts, service)
    timer = StreamTimer(on_text)
    timer.start()
    stream_request = {**request, "stream": True, "stream_options": {"include_usage": True}}
    chunks, attempts = complete(client, stream_request, service=service, auth_hint=auth_hint, not_found_hint=not_found_hint)
    try:
        return read_stream(chunks, timer, model, image_tokens, attempts, service=service, auth_hint=auth_hint, not_found_hint=not_found_hint)
    finally:
        chunks.close()  # a stream left early gives its connection back


def read_stream(
    chunks: Iterable[Any],
    timer: StreamTimer,
    model: str,
    image_tokens: int | None,
    attempts: int = 1,
    *,
    service: str = "the service",
    auth_hint: str | None = None,
    not_found_hint: str | None = None,
) -> Reply:
    """ChatCompletionChunks (the openai SDK's objects) -> Reply, timing them with `timer` (started by the caller)
    and passing each text delta on. An error before the first text is mapped as any other; once text has
    arrived, a stream that stops before its finish_reason is a StreamCutError keeping that text."""
    finish: str | None = None
    usage: Any = None
    answered_by = ""
    try:
        for chunk in chunks:
            answered_by = chunk.model or answered_by
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices or ():
                if choice.index != 0:
                    continue
                if choice.delta is not None and choice.delta.content:
                    timer.text(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
    except openai.OpenAIError as exc:  # the SDK wraps the transport's errors (connection, timeout) and error events
        if timer.began:
            raise timer.cut(f"{type(exc).__name__}: {exc}", attempts=attempts) from exc
        raise errors.from_openai(exc, auth_hint=auth_hint, not_found_hint=not_found_hint) from exc
    except ValueError as exc:  # an event whose data is not JSON
        if timer.began:
            raise timer.cut(f"an event that is not JSON ({exc})", attempts=attempts) from exc
        raise MalformedResponseError(f"{service} sent an event that is not JSON: {exc}", attempts=attempts) from exc
    timer.end()
    if finish is None:
        reason = "the stream ended without a finish_reason"
        if timer.began:
            raise timer.cut(reason, attempts=attempts)
        raise MalformedResponseError(f"{service}: {reason}, and no text before it", attempts=attempts)
    try:
        input_tokens = int(usage.prompt_tokens) if usage is not None else None
        output_tokens = int(usage.completion_tokens) if usage is not None else None
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedResponseError(f"{service} sent a usage chunk without token counts: {usage!r}"[:300]) from exc
    figures = timer.figures(output_tokens)
    return Reply(
        output=timer.received.strip(),
        model=answered_by or model,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        image_tokens=image_tokens,
        attempts=attempts,
        ttft_ms=figures.ttft_ms,
        output_tokens_per_s=figures.output_tokens_per_s,
        streamed=True,
    )
