"""Cost of one result in USD.

Token-priced models use genai-prices and its bundled price snapshot (no network), looked up by the model's id
and genai-prices' id for the service (aws, azure, openai); targets.Target falls back to the catalogue's own
price. SageMaker Serverless is billed by memory x compute duration; its list price is in the small dated table
below.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from genai_prices import Usage, calc_price


@dataclass(frozen=True)
class GbSecondPrice:
    usd_per_gb_second: float
    as_of: date
    source: str


# SageMaker Serverless Inference compute, list price per GB-second (1024 MB = 1 GB), by region.
# Source: https://aws.amazon.com/sagemaker/pricing/ (Serverless Inference tab): $0.0000200 per second for
# 1024 MB in us-east-1, scaling linearly with memory. Regions not listed use MCV_SAGEMAKER_USD_PER_GB_S
# when set, else the us-east-1 figure (shown as an estimate).
SAGEMAKER_SERVERLESS_PRICES: dict[str, GbSecondPrice] = {
    "us-east-1": GbSecondPrice(0.0000200, date(2024, 12, 1), "aws.amazon.com/sagemaker/pricing"),
}
FALLBACK_REGION = "us-east-1"


def sagemaker_price(region: str) -> GbSecondPrice:
    override = os.environ.get("MCV_SAGEMAKER_USD_PER_GB_S")
    if override:
        return GbSecondPrice(float(override), date.today(), "MCV_SAGEMAKER_USD_PER_GB_S")
    return SAGEMAKER_SERVERLESS_PRICES.get(region, SAGEMAKER_SERVERLESS_PRICES[FALLBACK_REGION])


def sagemaker_serverless_cost(billed_ms: float | None, memory_mb: int, region: str) -> float | None:
    """Compute cost of one invocation: memory in GB x duration billed per started millisecond."""
    if billed_ms is None:
        return None
    seconds = math.ceil(billed_ms) / 1000.0
    return sagemaker_price(region).usd_per_gb_second * (memory_mb / 1024.0) * seconds


@lru_cache(maxsize=256)
def _token_prices(model_ref: str, provider_id: str) -> tuple[float, float] | None:
    """USD per input and per output token, from genai-prices; None when the model is unknown there."""
    try:
        calc = calc_price(Usage(input_tokens=1_000_000, output_tokens=0), model_ref, provider_id=provider_id)
        out = calc_price(Usage(input_tokens=0, output_tokens=1_000_000), model_ref, provider_id=provider_id)
    except LookupError:
        return None
    return float(calc.total_price) / 1e6, float(out.total_price) / 1e6


def _price_ref(model_ref: str) -> str:
    # Bedrock cross-region inference profiles ("us.anthropic...", "apac.anthropic...") price as the model.
    head, _, rest = model_ref.partition(".")
    if head in ("us", "eu", "apac", "jp", "au", "ca", "global") and rest:
        return rest
    return model_ref


def token_prices(model_ref: str, provider_id: str) -> tuple[float, float] | None:
    """USD per million input and output tokens as genai-prices has them, or None for a model it does not know."""
    prices = _token_prices(_price_ref(model_ref), provider_id)
    return (prices[0] * 1e6, prices[1] * 1e6) if prices else None
