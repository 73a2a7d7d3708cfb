"""Service name -> class. Adding a service is one module with `@register` on its class (and its module in the
local cloud's emulator)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ..clients import Clients
from ..config import Settings
from ..errors import UsageError
from .base import Service

if TYPE_CHECKING:
    from ..targets import Target

_REGISTRY: dict[str, type[Service]] = {}
S = TypeVar("S", bound=type[Service])


def register(cls: S) -> S:
    if cls.service in _REGISTRY and _REGISTRY[cls.service] is not cls:
        raise ValueError(f"service {cls.service!r} is registered twice")
    _REGISTRY[cls.service] = cls
    return cls


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def names() -> list[str]:
    return list(_REGISTRY)


def get(name: str) -> type[Service]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown service {name!r}", hint=f"choose from {', '.join(_REGISTRY)}") from None


def bind(target: "Target", settings: Settings, clients: Clients) -> Service:
    """The service of `target`, bound to it."""
    return get(target.service)(target, settings, clients)
