"""Request building and response parsing of each provider, offline; SDK error translation."""

import base64
import json

import botocore.exceptions as bce
import httpx2 as httpx
import openai
import pytest

from mcv_core import errors
from mcv_core.images import PreparedImage
from mcv_core.providers import azure_openai, bedrock, names, sagemaker
from mcv_core.providers.errors import from_botocore, from_openai

IMAGE = PreparedImage(data=b"\xff\xd8\xffjpeg-bytes", media_type="image/jpeg", format="jpeg", width=1092, height=1092)


def test_registry_has_the_three_providers():
    assert {"sagemaker", "bedrock", "azure_openai"} <= set(names())


# --- SageMaker -------------------------------------------------------------------------------------------


def test_sagemaker_request_is_json_with_base64_image():
    request = sagemaker.build_request(IMAGE, top_k=3)
    assert request["ContentType"] == "application/json" and request["Accept"] == "application/json"
    body = json.loads(request["Body"])
    assert base64.b64decode(body["image"]) == IMAGE.data and body["top_k"] == 3


def test_sagemaker_response_parsed():
    body = json.dumps(
        {
            "model": "efficientnet-lite0",
            "labels": [{"label": "Egyptian cat", "score": 0.77, "index": 285}, {"label": "tabby", "score": 0.1, "index": 281}],
            "cold_start": True,
            "model_load_ms": 350.0,
            "preprocess_ms": 4.0,
            "inference_ms": 20.5,
        }
    ).encode()
    reply = sagemaker.parse_response(body, "ep")
    assert [l.label for l in reply.labels] == ["Egyptian cat", "tabby"]
    assert reply.cold_start is True
    assert reply.provider_latency_ms == pytest.approx(24.5)
    assert reply.output.startswith("Egyptian cat (77%)")
    assert reply.model == "ep (efficientnet-lite0)"
    assert reply.timings["model_load_ms"] == 350.0


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"labels": []}', b'{"labels": [{"label": "x"}]}'])
def test_sagemaker_malformed_response(body):
    with pytest.raises(errors.MalformedResponseError):
        sagemaker.parse_response(body, "ep")


# --- Bedrock ---------------------------------------------------------------------------------------------


def test_bedrock_request_has_image_block_then_text():
    request = bedrock.build_request("anthropic.claude-3-haiku-20240307-v1:0", IMAGE, "What is this?", 300)
    content = request["messages"][0]["content"]
    assert content[0] == {"image": {"format": "jpeg", "source": {"bytes": IMAGE.data}}}
    assert content[1] == {"text": "What is this?"}
    assert request["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.0}


def test_bedrock_response_parsed_with_usage_and_metrics():
    response = {
        "output": {"message": {"role": "assistant", "content": [{"text": "A cat "}, {"text": "on a mat."}]}},
        "usage": {"inputTokens": 1610, "outputTokens": 9, "totalTokens": 1619},
        "metrics": {"latencyMs": 812},
        "ResponseMetadata": {"RetryAttempts": 2},
    }
    reply = bedrock.parse_response(response, "m", IMAGE)
    assert reply.output == "A cat on a mat."
    assert (reply.input_tokens, reply.output_tokens, reply.provider_latency_ms, reply.attempts) == (1610, 9, 812.0, 3)
    assert reply.image_tokens == 1590  # 1092 x 1092 / 750, rounded up


def test_bedrock_malformed_response():
    with pytest.raises(errors.MalformedResponseError):
        bedrock.parse_response({"output": {}}, "m", IMAGE)


# --- Azure OpenAI ----------------------------------------------------------------------------------------


def test_azure_request_uses_a_data_url():
    request = azure_openai.build_request("gpt-4o-mini", IMAGE, "Describe", 200, "low")
    parts = request["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "Describe"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,") and base64.b64decode(url.split(",", 1)[1]) == IMAGE.data
    assert parts[1]["image_url"]["detail"] == "low"
    assert request["model"] == "gpt-4o-mini" and request["max_tokens"] == 200


def test_azure_response_parsed():
    completion = {
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": " A cat. "}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 2850, "completion_tokens": 4, "total_tokens": 2854},
    }
    reply = azure_openai.parse_response(completion, "gpt-4o-mini", IMAGE, "low", attempts=2)
    assert (reply.output, reply.input_tokens, reply.output_tokens, reply.attempts) == ("A cat.", 2850, 4, 2)
    assert reply.model == "gpt-4o-mini-2024-07-18"
    assert reply.image_tokens == 2833


def test_azure_high_detail_image_tokens():
    # 1092 x 1092 -> shorter side 768 -> 768 x 768 -> 4 tiles.
    reply = azure_openai.parse_response(
        {"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}, "d", IMAGE, "high"
    )
    assert reply.image_tokens == 2833 + 4 * 5667


def test_azure_malformed_response():
    with pytest.raises(errors.MalformedResponseError):
        azure_openai.parse_response({"choices": []}, "d", IMAGE, "auto")


# --- error translation -----------------------------------------------------------------------------------


def client_error(code: str, status: int, message: str = "m", **extra) -> bce.ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status, "RetryAttempts": 2}, **extra}
    return bce.ClientError(response, "Op")


@pytest.mark.parametrize(
    "code, status, kind",
    [
        ("ThrottlingException", 400, "throttled"),
        ("TooManyRequestsException", 429, "throttled"),
        ("AccessDeniedException", 403, "auth"),
        ("UnrecognizedClientException", 403, "auth"),
        ("InvalidSignatureException", 403, "auth"),
        ("ServiceUnavailableException", 503, "service_error"),
        ("InternalServerException", 500, "service_error"),
        ("ModelNotReadyException", 429, "throttled"),
        ("ValidationException", 400, "invalid_request"),
        ("ResourceNotFoundException", 404, "not_found"),
    ],
)
def test_botocore_client_errors(code, status, kind):
    translated = from_botocore(client_error(code, status))
    assert translated.kind == kind
    assert translated.attempts == 3
    assert code in translated.message


def test_sagemaker_missing_endpoint_is_not_found():
    exc = client_error("ValidationError", 400, "Endpoint mc-vision-classifier of account 123456789012 not found.")
    assert from_botocore(exc).kind == "not_found"


def test_sagemaker_model_error_uses_original_status():
    assert from_botocore(client_error("ModelError", 424, OriginalStatusCode=400)).kind == "invalid_request"
    assert from_botocore(client_error("ModelError", 424, OriginalStatusCode=500)).kind == "service_error"


def test_botocore_transport_errors():
    assert from_botocore(bce.ReadTimeoutError(endpoint_url="http://x")).kind == "timeout"
    assert from_botocore(bce.EndpointConnectionError(endpoint_url="http://x")).kind == "connection"
    assert from_botocore(bce.NoCredentialsError()).kind == "auth"


def _status_error(cls, status: int, body: dict, headers: dict | None = None):
    request = httpx.Request("POST", "http://127.0.0.1/openai/deployments/d/chat/completions")
    response = httpx.Response(status, json=body, headers=headers or {}, request=request)
    return cls(message=f"Error code: {status}", response=response, body=body)


@pytest.mark.parametrize(
    "cls, status, kind",
    [
        (openai.RateLimitError, 429, "throttled"),
        (openai.AuthenticationError, 401, "auth"),
        (openai.PermissionDeniedError, 403, "auth"),
        (openai.NotFoundError, 404, "not_found"),
        (openai.BadRequestError, 400, "invalid_request"),
        (openai.InternalServerError, 500, "service_error"),
    ],
)
def test_openai_status_errors(cls, status, kind):
    exc = _status_error(cls, status, {"error": {"code": "C", "message": "what happened"}}, {"retry-after": "2"})
    translated = from_openai(exc)
    assert translated.kind == kind and translated.status_code == status
    assert translated.message == "C: what happened"
    assert translated.retry_after == 2.0


def test_openai_transport_errors():
    request = httpx.Request("POST", "http://127.0.0.1/x")
    assert from_openai(openai.APITimeoutError(request=request)).kind == "timeout"
    assert from_openai(openai.APIConnectionError(request=request)).kind == "connection"
