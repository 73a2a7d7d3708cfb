import pytest

from mcv_core import pricing


def test_claude_3_haiku_on_bedrock_is_priced_by_genai_prices():
    # $0.25 per million input tokens, $1.25 per million output tokens.
    cost = pricing.token_cost("anthropic.claude-3-haiku-20240307-v1:0", "aws", 1000, 200)
    assert cost == pytest.approx(1000 * 0.25e-6 + 200 * 1.25e-6)


def test_inference_profile_prices_as_its_model():
    plain = pricing.token_cost("anthropic.claude-3-haiku-20240307-v1:0", "aws", 1000, 100)
    assert pricing.token_cost("apac.anthropic.claude-3-haiku-20240307-v1:0", "aws", 1000, 100) == plain


def test_gpt_4o_mini_on_azure():
    # $0.15 per million input tokens, $0.60 per million output tokens.
    assert pricing.token_cost("gpt-4o-mini", "azure", 10_000, 1_000) == pytest.approx(10_000 * 0.15e-6 + 1_000 * 0.6e-6)


def test_unknown_model_or_missing_tokens_cost_nothing_known():
    assert pricing.token_cost("no-such-model-xyz", "aws", 10, 10) is None
    assert pricing.token_cost("gpt-4o-mini", "azure", None, 10) is None


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
