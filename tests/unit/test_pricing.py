import pytest

from mcv_core import pricing


def test_claude_3_haiku_on_bedrock_is_priced_by_genai_prices():
    # $0.25 per million input tokens, $1.25 per million output tokens.
    assert pricing.token_prices("anthropic.claude-3-haiku-20240307-v1:0", "aws") == pytest.approx((0.25, 1.25))


def test_inference_profile_prices_as_its_model():
    plain = pricing.token_prices("anthropic.claude-3-haiku-20240307-v1:0", "aws")
    assert pricing.token_prices("apac.anthropic.claude-3-haiku-20240307-v1:0", "aws") == plain
    assert pricing.token_prices("us.amazon.nova-lite-v1:0", "aws") == pytest.approx((0.06, 0.24))


def test_gpt_4o_mini_on_azure_and_gpt_41_mini_on_openai():
    # $0.15 / $0.60 and $0.40 / $1.60 per million input / output tokens.
    assert pricing.token_prices("gpt-4o-mini", "azure") == pytest.approx((0.15, 0.6))
    assert pricing.token_prices("gpt-4.1-mini", "openai") == pytest.approx((0.4, 1.6))


def test_unknown_model_has_no_price():
    assert pricing.token_prices("no-such-model-xyz", "aws") is None
    assert pricing.token_prices("llama3.2-vision", "openai") is None


def test_sagemaker_serverless_by_gb_seconds(monkeypatch):
    monkeypatch.delenv("MCV_SAGEMAKER_USD_PER_GB_S", raising=False)
    # 1024 MB for 250 ms at $0.00002 per GB-second; billing rounds up to the millisecond.
    assert pricing.sagemaker_serverless_cost(249.2, 1024, "us-east-1") == pytest.approx(0.00002 * 0.25)
    assert pricing.sagemaker_serverless_cost(100, 2048, "us-east-1") == pytest.approx(0.00002 * 2 * 0.1)
    assert pricing.sagemaker_serverless_cost(None, 1024, "us-east-1") is None


def test_sagemaker_price_override(monkeypatch):
    monkeypatch.setenv("MCV_SAGEMAKER_USD_PER_GB_S", "0.0001")
    assert pricing.sagemaker_serverless_cost(1000, 1024, "ap-northeast-1") == pytest.approx(0.0001)


def test_token_prices_per_million():
    assert pricing.token_prices("gpt-4o-mini", "azure") == pytest.approx((0.15, 0.6))
