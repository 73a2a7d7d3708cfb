"""Services: how models are reached. One module each, one registry, one contract (base.py)."""

# Registration order is the order services are listed in.
from . import sagemaker  # noqa: F401, I001
from . import bedrock  # noqa: F401
from . import azure_openai  # noqa: F401
from . import openai_compatible  # noqa: F401
from .base import Service
from .registry import bind, get, names, register

__all__ = ["Service", "bind", "get", "names", "register"]
