"""Every model of the catalogue on the local cloud's real wire, through the real boto3 and openai clients.

Image tokens are computed here by hand, from each family's published rule, for the 448 x 320 photo sent.
"""

from __future__ import annotations

import io
import math

import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from PIL import Image
from skimage import data

from mcv_core import models, targets
from mcv_core.local import control
from mcv_core.local.emulator import approx_tokens

PROMPT = "What is in this picture?"
WIDTH, HEIGHT = 448, 320
# By hand, for 448 x 320 (see models.py for each rule's source):
CLAUDE_TOKENS = math.ceil(448 * 320 / 750)  # 191.15 -> 192
NOVA_TOKENS = 1800  # aspect 1.4: closest published size is 1400 x 900 (ratio 1.56), ~1800 tokens
LLAMA_TOKENS = 1601  # fits one 560-px tile with the least upscaling
PIXTRAL_TOKENS = (448 // 16) * (320 // 16) + 320 // 16  # 28 x 20 patches + 20 row breaks = 580
GPT41_MINI_TOKENS = math.ceil((448 // 32) * (320 // 32) * 162 / 100)  # 140 patches x 1.62 = 226.8 -> 227
GPT41_TOKENS = 85 + 170 * 1  # one 512-px tile
CHAT_OVERHEAD = 6  # 3 per message + 3 to prime the reply


@pytest.fixture(scope="module")
def conn(local_settings):  # noqa: ANN001, ANN201
    return control.running(local_settings)


@pytest.fixture(scope="module")
def photo() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(data.chelsea()).resize((WIDTH, HEIGHT)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def bedrock(conn):  # noqa: ANN001, ANN201
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=conn.emulator_url,
        region_name=conn.region,
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


def converse(client, model_id: str, image: bytes | None, prompt: str = PROMPT) -> dict:  # noqa: ANN001
    content: list[dict] = [{"text": prompt}]
    if image is not None:
        content.insert(0, {"image": {"format": "jpeg", "source": {"bytes": image}}})
    return client.converse(modelId=model_id, messages=[{"role": "user", "content": content}], inferenceConfig={"maxTokens": 400})


def text_of(answer: dict) -> str:
    return answer["output"]["message"]["content"][0]["text"]


def attribution(model: models.Model) -> str:
    assert model.standin is not None
    return f"[local stand-in for {model.title}: {' + '.join((*model.standin.classifiers, 'RapidOCR'))}]"


@pytest.mark.parametrize(
    ("model_id", "image_tokens"),
    [
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", CLAUDE_TOKENS),  # a cross-region inference profile
        ("amazon.nova-lite-v1:0", NOVA_TOKENS),
        ("meta.llama3-2-11b-instruct-v1:0", LLAMA_TOKENS),
        ("mistral.pixtral-large-2502-v1:0", PIXTRAL_TOKENS),
    ],
)
def test_bedrock_answers_every_family_with_its_own_usage(bedrock, photo, model_id, image_tokens):  # noqa: ANN001
    answer = converse(bedrock, model_id, photo)
    text = text_of(answer)
    model = models.resolve("bedrock", model_id)
    assert model is not None
    assert "cat" in text.lower() and text.endswith(attribution(model)), text
    usage = answer["usage"]
    assert usage["inputTokens"] == approx_tokens(PROMPT) + image_tokens
    assert usage["outputTokens"] == approx_tokens(text) and usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert answer["stopReason"] == "end_turn"


def test_bedrock_claude_arn_answers_and_a_text_only_request_is_declined(bedrock, conn):  # noqa: ANN001
    arn = f"arn:aws:bedrock:{conn.region}::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    answer = converse(bedrock, arn, None, "ping")
    assert text_of(answer).startswith("No image was given: this local stand-in for Claude 3 Haiku")
    assert answer["usage"]["inputTokens"] == approx_tokens("ping")


@pytest.mark.parametrize("model_id", ["anthropic.claude-v2", "amazon.titan-text-express-v1", "xx.anthropic.claude-3-haiku-20240307-v1:0"])
def test_an_unknown_bedrock_model_is_a_validation_exception(bedrock, photo, model_id):  # noqa: ANN001
    with pytest.raises(ClientError) as info:
        converse(bedrock, model_id, photo)
    error = info.value.response["Error"]
    assert (error["Code"], error["Message"]) == ("ValidationException", "The provided model identifier is invalid.")


def data_url(image: bytes) -> str:
    import base64

    return "data:image/jpeg;base64," + base64.b64encode(image).decode()


def chat(client, model: str, image: bytes, detail: str = "auto"):  # noqa: ANN001, ANN201
    return client.chat.completions.create(
        model=model,
        max_tokens=400,
        messages=[{"role": "user", "content": [
            {"type": "text", "text": PROMPT},
            {"type": "image_url", "image_url": {"url": data_url(image), "detail": detail}},
        ]}],
    )  # fmt: skip


def test_azure_deploys_the_catalogue_and_refuses_what_it_did_not_deploy(local_settings, conn, photo):  # noqa: ANN001
    catalogue = targets.parse(
        '[targets.vision41]\nservice = "azure_openai"\ndeployment = "vision-41"\nmodel = "gpt-4.1"\n'
        '[targets.mystery]\nservice = "azure_openai"\ndeployment = "mystery"\nmodel = "gpt-99-vision"\n',
        local_settings,
    )
    deployed = control.deploy_catalogue(local_settings, catalogue)
    assert deployed["vision-41"] == "gpt-4.1" and "mystery" not in deployed
    assert control.deploy_catalogue(local_settings, catalogue) == deployed  # idempotent
    assert deployed[local_settings.azure_deployment] == local_settings.azure_model  # the start-up one stays
    status = control.emulator_admin(conn, "GET", "/_mcv/status")
    assert status["azure_openai"]["deployments"] == deployed

    client = openai.AzureOpenAI(azure_endpoint=conn.azure_endpoint, api_key=conn.azure_api_key, api_version="2024-10-21", max_retries=0)
    completion = chat(client, "vision-41", photo)
    assert completion.model == "gpt-4.1"
    text = completion.choices[0].message.content
    assert "cat" in text.lower() and text.endswith(attribution(models.resolve("azure_openai", "gpt-4.1")))
    assert completion.usage.prompt_tokens == approx_tokens(PROMPT) + GPT41_TOKENS + CHAT_OVERHEAD
    low = chat(client, "vision-41", photo, detail="low")
    assert low.usage.prompt_tokens == approx_tokens(PROMPT) + 85 + CHAT_OVERHEAD

    with pytest.raises(openai.NotFoundError) as info:
        chat(client, "mystery", photo)
    assert info.value.body["code"] == "DeploymentNotFound"


@pytest.fixture(scope="module")
def compatible(conn):  # noqa: ANN001, ANN201
    return openai.OpenAI(base_url=conn.openai_base_url, api_key=conn.azure_api_key, max_retries=0)


def test_openai_compatible_lists_and_answers_its_models(compatible, photo):  # noqa: ANN001
    listed = [m.id for m in compatible.models.list()]
    assert listed == [m.key for m in models.served("openai")]
    assert {"gpt-4o-mini", "gpt-4.1-mini", "llama3.2-vision"} <= set(listed)

    completion = chat(compatible, "gpt-4.1-mini", photo)
    text = completion.choices[0].message.content
    assert completion.model == "gpt-4.1-mini"
    assert "cat" in text.lower() and text.endswith(attribution(models.resolve("openai", "gpt-4.1-mini")))
    # Patch models ignore detail: the same 227 image tokens either way.
    assert completion.usage.prompt_tokens == approx_tokens(PROMPT) + GPT41_MINI_TOKENS + CHAT_OVERHEAD
    assert chat(compatible, "gpt-4.1-mini", photo, "low").usage.prompt_tokens == completion.usage.prompt_tokens


def test_openai_compatible_refuses_unknown_models_and_wrong_keys(conn, compatible, photo):  # noqa: ANN001
    with pytest.raises(openai.NotFoundError) as info:
        chat(compatible, "gpt-99-vision", photo)
    assert info.value.body["code"] == "model_not_found"
    assert info.value.body["message"] == "The model `gpt-99-vision` does not exist or you do not have access to it."

    stranger = openai.OpenAI(base_url=conn.openai_base_url, api_key="sk-not-the-local-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        stranger.models.list()
    assert denied.value.status_code == 401 and denied.value.body["code"] == "invalid_api_key"


def test_two_models_answer_differently_on_the_same_photo(bedrock, compatible, photo):  # noqa: ANN001
    claude = text_of(converse(bedrock, "anthropic.claude-3-haiku-20240307-v1:0", photo))
    nano = chat(compatible, "gpt-4.1-nano", photo).choices[0].message.content
    assert claude.endswith(attribution(models.resolve("bedrock", "anthropic.claude-3-haiku-20240307-v1:0")))
    assert nano.endswith(attribution(models.resolve("openai", "gpt-4.1-nano")))
    # Different local models and wording: the answers differ beyond their attributions.
    assert claude.rsplit("[", 1)[0] != nano.rsplit("[", 1)[0]
    assert "efficientnet-lite2" in claude and "efficientnet-lite0" in nano
