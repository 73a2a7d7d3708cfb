"""Vision providers: one module each, one registry, one contract (base.py)."""

# Imported in the order they are listed everywhere (registration order is display order).
from . import sagemaker  # noqa: F401, I001
from . import bedrock  # noqa: F401
from . import azure_openai  # noqa: F401
from .base import Label, Provider, ProviderResult, Reply
from .registry import create, get, names, parse_names, register

__all__ = ["Label", "Provider", "ProviderResult", "Reply", "create", "get", "names", "parse_names", "register"]
