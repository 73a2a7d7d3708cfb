"""Cost of one result in USD.

Token-priced models use genai-prices and its bundled price snapshot (no network), looked up by the model's id
and genai-prices' id for the service (aws, azure, openai); targets.Target falls back to the catalogue's own
price. SageMaker Serverless is billed by memory x compute duration, SageMaker Batch Transform by instance time;
their list prices are in the small dated tables below.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import date, datetime
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


# SageMaker Batch Transform: billed per instance for the time the job runs on it, from its TransformStartTime to
# its TransformEndTime (docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTransformJob.html: "You are
# billed for the time interval between this time and the value of TransformEndTime"), at the instance type's
# on-demand hourly price. Source: https://aws.amazon.com/sagemaker/pricing/ (On-Demand Pricing, the Batch
# Transform tab), by region and instance type; entered on the date given, from AWS's list prices, without the page
# being re-read from the machine that wrote them (no network there): check them against the page. When set,
# MCV_TRANSFORM_USD_PER_HOUR is the price of any type anywhere; else a region not listed uses the us-east-1 figure
# of the same type (an estimate), and a type not listed has no price.
@dataclass(frozen=True)
class InstanceHourPrice:
    usd_per_hour: float
    as_of: date
    source: str


SAGEMAKER_TRANSFORM_PRICES: dict[tuple[str, str], InstanceHourPrice] = {
    ("us-east-1", "ml.m5.large"): InstanceHourPrice(
        0.115, date(2026, 12, 6), "aws.amazon.com/sagemaker/pricing (Batch Transform, US East (N. Virginia))"
    ),
    ("ap-northeast-1", "ml.m5.large"): InstanceHourPrice(
        0.149, date(2026, 12, 6), "aws.amazon.com/sagemaker/pricing (Batch Transform, Asia Pacific (Tokyo))"
    ),
}


def transform_price(region: str, instance_type: str) -> InstanceHourPrice | None:
    override = os.environ.get("MCV_TRANSFORM_USD_PER_HOUR")
    if override:
        return InstanceHourPrice(float(override), date.today(), "MCV_TRANSFORM_USD_PER_HOUR")
    return SAGEMAKER_TRANSFORM_PRICES.get((region, instance_type)) or SAGEMAKER_TRANSFORM_PRICES.get(
        (FALLBACK_REGION, instance_type)
    )


def sagemaker_transform_cost(
    started: datetime | None, ended: datetime | None, instance_type: str, instance_count: int, region: str
) -> float | None:
    """What a Batch Transform job is billed: its instances' time, from its TransformStartTime to its
    TransformEndTime as the service reports them (real timings, not an estimate), x instances x the type's
    hourly price / 3600. None before the job has ended or for a type without a price. A result of the job costs
    this divided by the job's records (batch.py)."""
    price = transform_price(region, instance_type)
    if started is None or ended is None or price is None:
        return None
    seconds = max(0.0, (ended - started).total_seconds())
    return price.usd_per_hour * instance_count * seconds / 3600.0


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


# --------------------------------------------------------------------------------------------------- batch


@dataclass(frozen=True)
class BatchPrice:
    """A service's batch price for a model, as a share of its on-demand token price."""

    share: float
    as_of: date
    source: str


# genai-prices (0.2) carries no batch prices, so they live in this one dated table: per service and model (the
# model's canonical id, models.py), the batch price as a share of the on-demand one.
# Bedrock batch inference: "50% lower price compared to on-demand" for the models that offer batch
# (https://aws.amazon.com/bedrock/pricing/, the Batch columns of each provider's table).
# Azure OpenAI Global Batch: "50% less cost than global standard" (https://azure.microsoft.com/pricing/details/
# cognitive-services/openai-service/, Global Batch rows; learn.microsoft.com/azure/ai-foundry/openai/how-to/batch).
_BEDROCK_BATCH = BatchPrice(0.5, date(2026, 12, 5), "aws.amazon.com/bedrock/pricing (batch: 50% of on-demand)")
_AZURE_BATCH = BatchPrice(0.5, date(2026, 12, 5), "azure.microsoft.com/pricing/details/cognitive-services/openai-service (Global Batch: 50% of Global Standard)")
BATCH_PRICES: dict[tuple[str, str], BatchPrice] = {
    ("bedrock", "anthropic.claude-3-haiku-20240307-v1:0"): _BEDROCK_BATCH,
    ("bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"): _BEDROCK_BATCH,
    ("bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"): _BEDROCK_BATCH,
    ("bedrock", "amazon.nova-lite-v1:0"): _BEDROCK_BATCH,
    ("bedrock", "amazon.nova-pro-v1:0"): _BEDROCK_BATCH,
    ("azure_openai", "gpt-4o-mini"): _AZURE_BATCH,
    ("azure_openai", "gpt-4o"): _AZURE_BATCH,
    ("azure_openai", "gpt-4.1"): _AZURE_BATCH,
    ("azure_openai", "gpt-4.1-mini"): _AZURE_BATCH,
}


def batch_price(service: str, model_key: str) -> BatchPrice | None:
    """The batch price of a known model on a service, or None when the table has none (batch not priced)."""
    return BATCH_PRICES.get((service, model_key))
