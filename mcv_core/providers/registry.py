"""Name -> provider class. Adding a provider is one module with `@register` on its class."""

from __future__ import annotations

from typing import TypeVar

from ..clients import Clients
from ..config import Settings
from ..errors import UsageError
from .base import Provider

_REGISTRY: dict[str, type[Provider]] = {}
P = TypeVar("P", bound=type[Provider])


def register(cls: P) -> P:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"provider {cls.name!r} is registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> type[Provider]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown provider {name!r}", hint=f"choose from {', '.join(_REGISTRY)}") from None


def create(name: str, settings: Settings, clients: Clients) -> Provider:
    return get(name)(settings, clients)


def parse_names(text: str | None, default: tuple[str, ...]) -> list[str]:
    """`sagemaker,bedrock` -> validated names, in the order given, without duplicates."""
    if not text:
        return list(default)
    chosen: list[str] = []
    for part in text.split(","):
        name = part.strip()
        if not name:
            continue
        get(name)
        if name not in chosen:
            chosen.append(name)
    if not chosen:
        raise UsageError("no providers given", hint=f"choose from {', '.join(_REGISTRY)}")
    return chosen
