"""Each service offline: request building and response parsing (pure functions), SDK error translation, the
registry, and a service bound to a target. Calls go through real SDK clients whose transport is stubbed
(botocore's Stubber, httpx's MockTransport): nothing leaves the process."""

import base64
import json
from typing import Any, Callable

import boto3
import botocore.exceptions as bce
import httpx2 as httpx
import openai
import pytest
from botocore.stub import Stubber

from mcv_core import errors, models
from mcv_core.clients import Clients, Endpoints
from mcv_core.config import Settings
from mcv_core.images import PreparedImage
from mcv_core.services import bedrock, chat, registry, sagemaker
from mcv_core.services.azure_openai import AzureOpenAI
from mcv_core.services.bedrock import Bedrock
from mcv_core.services.errors import from_botocore, from_openai
from mcv_core.services.openai_compatible import OpenAICompatible
from mcv_core.services.sagemaker import SageMaker
from mcv_core.targets import Target

IMAGE = PreparedImage(data=b"\xff\xd8\xffjpeg-bytes", media_type="image/jpeg", format="jpeg", width=1092, height=1092)
# The unstreamed calls (Converse, one ChatCompletion); streamed ones are in test_streaming.py.
SETTINGS = Settings.from_mapping({"MCV_MODE": "cloud", "MCV_MAX_ATTEMPTS": "1", "MCV_STREAM": "0"})
CLAUDE_HAIKU = Target(
    id="claude-haiku", service="bedrock", model="us.anthropic.claude-3-haiku-20240307-v1:0", title="Claude 3 Haiku (Amazon Bedrock)"
)
AZURE_MINI = Target(
    id="azure-mini", service="azure_openai", deployment="vision-mini", model="gpt-4o-mini", title="gpt-4o-mini (Azure)", image_detail="high"
)
OLLAMA = Target(id="ollama-llama", service="openai", model="llama3.2-vision:11b", base_url="http://127.0.0.1:11434/v1", title="Llama on Ollama")
GPT41_MINI = Target(id="gpt41-mini", service="openai", model="gpt-4.1-mini", base_url="http://127.0.0.1:9/v1", title="gpt-4.1-mini")
CLASSIFIER = Target(id="sagemaker", service="sagemaker", endpoint="mc-vision-classifier", title="SageMaker Serverless")


class StubbedClients(Clients):
    """The app's Clients, handing out the SDK clients a test built (a Stubber's, or one on a MockTransport)."""

    def __init__(self, *, aws: Any = None, openai_client: Any = None) -> None:
        super().__init__(SETTINGS, Endpoints(aws={}))
        self._aws, self._openai = aws, openai_client

    def aws(self, service: str, *, timeout: float | None = None, max_attempts: int | None = None) -> Any:
        return self._aws

    def azure_openai(self, *, timeout: float | None = None, max_attempts: int | None = None) -> Any:
        return self._openai

    def openai_compatible(self, *, base_url: str = "", api_key_env: str = "", timeout: float | None = None, max_attempts: int | None = None) -> Any:
        return self._openai


def bedrock_client() -> Any:
    return boto3.client("bedrock-runtime", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def openai_client(target: Target, handler: Callable[[httpx.Request], httpx.Response]) -> Any:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    if target.service == "azure_openai":
        return openai.AzureOpenAI(
            api_key="test", azure_endpoint="http://127.0.0.1:9", api_version="2024-10-21", http_client=http, max_retries=0
        )
    return openai.OpenAI(api_key="test", base_url=target.base_url, http_client=http, max_retries=0)


def completion(content: str = " A cat. ", prompt_tokens: int = 2850, completion_tokens: int = 4, model: str = "gpt-4o-mini-2024-07-18") -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }


# --- registry and binding --------------------------------------------------------------------------------


def test_the_registry_lists_exactly_the_four_services_in_order():
    assert registry.names() == ["sagemaker", "bedrock", "azure_openai", "openai"]
    assert [registry.get(n) for n in registry.names()] == [SageMaker, Bedrock, AzureOpenAI, OpenAICompatible]


def test_an_unknown_service_is_a_usage_error_naming_the_services():
    with pytest.raises(errors.UsageError, match="unknown service 'vertex'") as info:
        registry.get("vertex")
    assert info.value.hint == "choose from sagemaker, bedrock, azure_openai, openai"


@pytest.mark.parametrize(
    "target, cls, model_id, spec",
    [
        (CLASSIFIER, SageMaker, "mc-vision-classifier", models.CLASSIFIER),
        (CLAUDE_HAIKU, Bedrock, "us.anthropic.claude-3-haiku-20240307-v1:0", models.CLAUDE),
        # Azure is asked for the deployment; the model behind it decides the image (detail high here).
        (AZURE_MINI, AzureOpenAI, "vision-mini", models.gpt_tiles_spec("high")),
        (OLLAMA, OpenAICompatible, "llama3.2-vision:11b", models.LLAMA),
        (GPT41_MINI, OpenAICompatible, "gpt-4.1-mini", models.GPT_PATCHES),
        (Target(id="mystery", service="openai", model="acme-vision-7b"), OpenAICompatible, "acme-vision-7b", models.UNKNOWN_SPEC),
    ],
    ids=lambda v: v.id if isinstance(v, Target) else None,
)
def test_binding_a_target_gives_its_model_id_image_spec_and_title(target, cls, model_id, spec):
    service = registry.bind(target, SETTINGS, Clients(SETTINGS, Endpoints(aws={})))
    assert type(service) is cls
    assert (service.name, service.title, service.model_id) == (target.id, target.title, model_id)
    assert service.image_spec == spec
    assert service.concurrency == cls.default_concurrency


def test_azure_image_detail_picks_the_spec():
    low = Target(id="azure-low", service="azure_openai", deployment="d", model="gpt-4o-mini", image_detail="low")
    auto = Target(id="azure-auto", service="azure_openai", deployment="d", model="gpt-4o-mini")
    clients = Clients(SETTINGS, Endpoints(aws={}))
    assert registry.bind(low, SETTINGS, clients).image_spec is models.gpt_tiles_spec("low")
    assert registry.bind(auto, SETTINGS, clients).image_spec is models.GPT_TILES


def test_sagemaker_without_an_endpoint_names_the_setting():
    bare = Target(id="sagemaker", service="sagemaker")
    service = registry.bind(bare, Settings(), Clients(Settings(), Endpoints(aws={})))
    assert service.model_id == "(MCV_SAGEMAKER_ENDPOINT not set)"
    with pytest.raises(errors.ConfigError, match="MCV_SAGEMAKER_ENDPOINT is not set"):
        service.endpoint


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
    assert request["modelId"] == "anthropic.claude-3-haiku-20240307-v1:0"
    content = request["messages"][0]["content"]
    assert content[0] == {"image": {"format": "jpeg", "source": {"bytes": IMAGE.data}}}
    assert content[1] == {"text": "What is this?"}
    assert request["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.0}


BEDROCK_RESPONSE = {
    "output": {"message": {"role": "assistant", "content": [{"text": "A cat "}, {"text": "on a mat."}]}},
    "usage": {"inputTokens": 1610, "outputTokens": 9, "totalTokens": 1619},
    "metrics": {"latencyMs": 812},
    "stopReason": "end_turn",
}


def test_bedrock_response_parsed_with_usage_and_metrics():
    reply = bedrock.parse_response({**BEDROCK_RESPONSE, "ResponseMetadata": {"RetryAttempts": 2}}, "m", 1590)
    assert reply.output == "A cat on a mat."
    assert (reply.input_tokens, reply.output_tokens, reply.provider_latency_ms, reply.attempts) == (1610, 9, 812.0, 3)
    assert (reply.model, reply.image_tokens) == ("m", 1590)


def test_bedrock_malformed_response():
    with pytest.raises(errors.MalformedResponseError):
        bedrock.parse_response({"output": {}}, "m", None)


def test_a_bedrock_call_sends_the_request_and_counts_the_model_family_s_image_tokens():
    client = bedrock_client()
    service = registry.bind(CLAUDE_HAIKU, SETTINGS, StubbedClients(aws=client))
    with Stubber(client) as stub:
        stub.add_response("converse", BEDROCK_RESPONSE, bedrock.build_request(CLAUDE_HAIKU.model, IMAGE, "What is this?", 300))
        reply = service.call(IMAGE, "What is this?")
        stub.assert_no_pending_responses()
    assert (reply.output, reply.model, reply.input_tokens) == ("A cat on a mat.", CLAUDE_HAIKU.model, 1610)
    assert reply.image_tokens == 1590  # Claude: 1092 x 1092 / 750 = 1589.9 -> 1590


def test_an_unknown_bedrock_model_is_an_invalid_request_that_says_to_check_the_target_s_model():
    client = bedrock_client()
    target = Target(id="typo", service="bedrock", model="anthropic.claude-9-haiku-v1:0")
    service = registry.bind(target, SETTINGS, StubbedClients(aws=client))
    with Stubber(client) as stub:
        stub.add_client_error(
            "converse", service_error_code="ValidationException", service_message="The provided model identifier is invalid.", http_status_code=400
        )
        with pytest.raises(errors.InvalidRequestError) as info:
            service.call(IMAGE, "What is this?")
    error = info.value
    assert (error.kind, error.status_code) == ("invalid_request", 400)
    assert error.message == "ValidationException: The provided model identifier is invalid."
    assert error.hint == (
        "anthropic.claude-9-haiku-v1:0 is not a Bedrock model id or inference profile here: check the target's model and region"
    )


def test_another_bedrock_validation_error_keeps_the_general_hint():
    exc = client_error("ValidationException", 400, "messages.0.content.0.image.source.bytes: image exceeds 5 MB maximum")
    error = bedrock._translate(exc, "anthropic.claude-3-haiku-20240307-v1:0")
    assert isinstance(error, errors.InvalidRequestError)
    assert error.hint == errors.InvalidRequestError.hint


# --- chat completions: Azure OpenAI and OpenAI-compatible servers ----------------------------------------


def test_chat_request_uses_a_data_url_and_the_detail():
    request = chat.build_request("gpt-4o-mini", IMAGE, "Describe", 200, "low")
    parts = request["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "Describe"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,") and base64.b64decode(url.split(",", 1)[1]) == IMAGE.data
    assert parts[1]["image_url"]["detail"] == "low"
    assert (request["model"], request["max_tokens"], request["temperature"]) == ("gpt-4o-mini", 200, 0.0)


def test_chat_request_without_detail_leaves_it_out():
    # Servers other than OpenAI's own (Ollama, vLLM) are not sent OpenAI's image detail.
    request = chat.build_request("llama3.2-vision:11b", IMAGE, "Describe", 200, None, 0.5)
    assert "detail" not in request["messages"][0]["content"][1]["image_url"]
    assert request["temperature"] == 0.5


def test_chat_response_parsed_from_a_dict_and_from_the_sdk_object():
    from openai.types.chat import ChatCompletion

    for raw in (completion(), ChatCompletion.model_validate(completion())):
        reply = chat.parse_response(raw, "gpt-4o-mini", 2833, attempts=2)
        assert (reply.output, reply.input_tokens, reply.output_tokens, reply.attempts) == ("A cat.", 2850, 4, 2)
        assert (reply.model, reply.image_tokens) == ("gpt-4o-mini-2024-07-18", 2833)


def test_chat_response_without_a_model_keeps_the_one_asked_for():
    reply = chat.parse_response({"choices": [{"message": {"content": None}}], "usage": {"prompt_tokens": 1, "completion_tokens": 0}}, "d", None)
    assert (reply.output, reply.model, reply.image_tokens) == ("", "d", None)


@pytest.mark.parametrize("body", [{"choices": []}, {"choices": [{"message": {"content": "x"}}]}, {"usage": {}}, None])
def test_chat_malformed_response(body):
    with pytest.raises(errors.MalformedResponseError, match="Azure OpenAI returned an unexpected response"):
        chat.parse_response(body, "d", None, service="Azure OpenAI")


def test_an_azure_call_asks_the_deployment_and_counts_the_model_s_image_tokens():
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append({"path": request.url.path, "body": json.loads(request.content)})
        return httpx.Response(200, json=completion())

    service = registry.bind(AZURE_MINI, SETTINGS, StubbedClients(openai_client=openai_client(AZURE_MINI, handler)))
    reply = service.call(IMAGE, "Describe")
    [request] = sent
    assert request["path"] == "/openai/deployments/vision-mini/chat/completions"
    assert request["body"]["model"] == "vision-mini"
    assert request["body"]["messages"][0]["content"][1]["image_url"]["detail"] == "high"
    assert (reply.output, reply.input_tokens, reply.attempts) == ("A cat.", 2850, 1)
    # gpt-4o-mini, detail high: 1092 x 1092 fits in 2048; shorter side to 768 -> 768 x 768 -> 2 x 2 = 4 tiles.
    assert reply.image_tokens == 2833 + 4 * 5667


def test_an_ollama_call_sends_no_detail_and_counts_llama_tiles():
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json=completion("A cat.", 1700, 3, "llama3.2-vision:11b"))

    service = registry.bind(OLLAMA, SETTINGS, StubbedClients(openai_client=openai_client(OLLAMA, handler)))
    reply = service.call(IMAGE, "Describe")
    assert sent[0]["model"] == "llama3.2-vision:11b"
    assert "detail" not in sent[0]["messages"][0]["content"][1]["image_url"]
    # Llama 3.2: 1092 x 1092 -> the 2 x 2 canvas of 560-px tiles (1120 x 1120, the least upscaling) -> 4 x 1601.
    assert (reply.model, reply.image_tokens) == ("llama3.2-vision:11b", 4 * 1601)


@pytest.mark.parametrize("target", [GPT41_MINI, AZURE_MINI], ids=lambda t: t.service)
def test_a_404_is_not_found_with_the_service_s_hint(target):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "model_not_found", "message": "The model does not exist"}})

    service = registry.bind(target, SETTINGS, StubbedClients(openai_client=openai_client(target, handler)))
    with pytest.raises(errors.NotFoundError) as info:
        service.call(IMAGE, "Describe")
    error = info.value
    assert (error.kind, error.status_code, error.message) == ("not_found", 404, "model_not_found: The model does not exist")
    assert error.hint == service.not_found_hint
    expected = {
        "openai": "the server does not serve 'gpt-4.1-mini': check the model of target 'gpt41-mini' (GET /v1/models lists what it serves)",
        "azure_openai": "deployment 'vision-mini' is not in this Azure OpenAI resource: check the deployment of target "
        "'azure-mini', AZURE_OPENAI_ENDPOINT and OPENAI_API_VERSION",
    }
    assert error.hint == expected[target.service]


def test_a_200_that_is_not_json_is_a_malformed_response():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>gateway</html>", headers={"content-type": "application/json"})

    service = registry.bind(GPT41_MINI, SETTINGS, StubbedClients(openai_client=openai_client(GPT41_MINI, handler)))
    with pytest.raises(errors.MalformedResponseError, match="the OpenAI-compatible server returned a body that is not JSON"):
        service.call(IMAGE, "Describe")


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


def test_an_error_event_of_a_stream_maps_as_the_same_error_would():
    # botocore names an event stream's exception by the stream's member: throttlingException.
    event = bce.EventStreamError({"Error": {"Code": "throttlingException", "Message": "Too many requests"}}, "ConverseStream")
    translated = from_botocore(event)
    assert (translated.kind, translated.message) == ("throttled", "ThrottlingException: Too many requests")
    model_error = bce.EventStreamError({"Error": {"Code": "modelStreamErrorException", "Message": "m"}}, "ConverseStream")
    assert from_botocore(model_error).kind == "service_error"


def test_the_streaming_services_say_so():
    assert {name: registry.get(name).streams for name in registry.names()} == {
        "sagemaker": False,
        "bedrock": True,
        "azure_openai": True,
        "openai": True,
    }


def test_botocore_transport_errors():
    assert from_botocore(bce.ReadTimeoutError(endpoint_url="http://x")).kind == "timeout"
    assert from_botocore(bce.EndpointConnectionError(endpoint_url="http://x")).kind == "connection"
    assert from_botocore(bce.NoCredentialsError()).kind == "auth"
    # Reading an event stream goes through urllib3, whose errors reach the reader as they are.
    import urllib3.exceptions

    assert from_botocore(urllib3.exceptions.ProtocolError("Connection broken")).kind == "connection"
    assert from_botocore(urllib3.exceptions.ReadTimeoutError(None, "http://x", "Read timed out.")).kind == "timeout"
    # A frame or an event botocore cannot parse.
    import botocore.eventstream
    import botocore.parsers

    assert from_botocore(botocore.eventstream.ChecksumMismatch(1, 2)).kind == "malformed_response"
    assert from_botocore(botocore.parsers.ResponseParserError("Unable to parse response")).kind == "malformed_response"


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
