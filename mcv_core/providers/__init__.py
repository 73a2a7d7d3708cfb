"""Vision providers: one module each, one registry, one contract (base.py)."""

from . import azure_openai, bedrock, sagemaker  # noqa: F401  (register the built-in providers)
from .base import Label, Provider, ProviderResult, Reply
from .registry import create, get, names, parse_names, register

__all__ = ["Label", "Provider", "ProviderResult", "Reply", "create", "get", "names", "parse_names", "register"]
