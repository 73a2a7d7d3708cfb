"""The catalogue: which models this app compares, each one a *target* (a service plus a model) with a stable id.

A TOML file, `targets.toml` in the working directory or the file named by MCV_TARGETS_FILE, one table per target:

    [targets.claude-3-haiku]
    service = "bedrock"
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    title = "Claude 3 Haiku"            # optional
    stream = false                      # optional: call without streaming (default: MCV_STREAM)

Without a file, the three targets of the proof of concept (`sagemaker`, `bedrock`, `azure_openai`), from the
settings. A target id is the key in history, on the command line, in MCV_CONCURRENCY_<ID> / MCV_TIMEOUT_S_<ID>
and in chart colours. What a target needs to know about its model (image preparation, image-token rule, price)
comes from its model family (models.py); what it needs to know about its service (required fields, defaults,
price provider) from the service's class (services/).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from . import models, pricing
from .config import Settings
from .errors import UsageError
from .images import ImageSpec

ID_PATTERN = re.compile(r"[a-z0-9_-]+")
DEFAULT_FILE = "targets.toml"
# Told apart on white: the default targets keep the colours they always had; every other target takes the next
# free one in catalogue order, ordered so that each is as far as possible (CIEDE2000) from the defaults and from
# those before it.
DEFAULT_COLORS = {"sagemaker": "#EC7211", "bedrock": "#01A88D", "azure_openai": "#0078D4"}
PALETTE = (
    "#CC79A7", "#BCBD22", "#1B2A49", "#8C564B", "#7F7F7F", "#56B4E9", "#7B61FF", "#E69F00", "#D6336C", "#2F9E44",
    "#17BECF",
)  # fmt: skip


class CatalogueError(UsageError):
    """The catalogue cannot be used: the message names the file (and line) and what is wrong."""


@dataclass(frozen=True)
class Target:
    """One configured model on one service."""

    id: str
    service: str
    model: str = ""
    title: str = ""
    endpoint: str = ""  # sagemaker: the endpoint name
    deployment: str = ""  # azure_openai: the deployment name
    batch_deployment: str = ""  # azure_openai: a Global-Batch deployment of the same model, for batch benchmarks
    base_url: str = ""  # openai: the server (default OPENAI_BASE_URL; the local cloud's in local mode)
    api_key_env: str = ""  # openai: the variable holding the key (default OPENAI_API_KEY)
    max_output_tokens: int | None = None
    temperature: float | None = None
    image_detail: str = "auto"  # OpenAI families: low, high or auto
    input_usd_per_mtok: float | None = None  # a price for a model genai-prices does not know
    output_usd_per_mtok: float | None = None
    stream: bool | None = None  # false: call without streaming (no time to first token); unset: MCV_STREAM decides
    color: str = ""  # set by the catalogue

    # --- what the model family says
    @property
    def known(self) -> models.Model | None:
        return models.resolve(self.service, self.model_ref)

    @property
    def model_ref(self) -> str:
        """What names the model to the family table and genai-prices (the endpoint for our classifier)."""
        return self.model or self.endpoint or self.deployment

    @property
    def family(self) -> models.Family:
        known = self.known
        return known.family if known is not None else models.UNKNOWN_FAMILY

    @property
    def model_title(self) -> str:
        known = self.known
        return known.title if known is not None else self.model_ref

    @property
    def image_spec(self) -> ImageSpec:
        return self.family.image_spec(self.image_detail)

    def image_tokens(self, width: int, height: int) -> int | None:
        """Image tokens for an image of this size as sent (None: the family publishes no rule)."""
        return self.family.image_tokens(width, height, self.image_detail)

    @property
    def billing(self) -> str:
        return self.family.billing

    # --- price
    def token_prices(self) -> tuple[float, float] | None:
        """USD per million input and output tokens: genai-prices first, else the target's own, else None."""
        from .services import registry

        provider = registry.get(self.service).price_provider
        known = pricing.token_prices(self.model_ref, provider) if provider else None
        if known is not None:
            return known
        if self.input_usd_per_mtok is not None and self.output_usd_per_mtok is not None:
            return self.input_usd_per_mtok, self.output_usd_per_mtok
        return None

    @property
    def price_source(self) -> str:
        from .services import registry

        provider = registry.get(self.service).price_provider
        if provider and pricing.token_prices(self.model_ref, provider) is not None:
            return "genai-prices"
        return "catalogue" if self.token_prices() is not None else "unknown"

    @property
    def batch_price(self) -> pricing.BatchPrice | None:
        """The service's batch price for this model (a share of on-demand), or None when it has none."""
        known = self.known
        return pricing.batch_price(self.service, known.key) if known is not None else None

    def batch_prices(self) -> tuple[float, float] | None:
        """USD per million input and output tokens in a batch job, or None when not known."""
        prices, batch = self.token_prices(), self.batch_price
        if prices is None or batch is None:
            return None
        return prices[0] * batch.share, prices[1] * batch.share

    def token_cost(self, input_tokens: int | None, output_tokens: int | None, *, batch: bool = False) -> float | None:
        """USD for these tokens on demand, or in a batch job (`batch`: at the batch price; None when unknown)."""
        prices = self.batch_prices() if batch else self.token_prices()
        if prices is None or input_tokens is None or output_tokens is None:
            return None
        return (input_tokens * prices[0] + output_tokens * prices[1]) / 1e6

    def describe(self) -> dict[str, Any]:
        """The target as `targets --json` prints it."""
        prices = self.token_prices()
        family = self.family
        return {
            "id": self.id,
            "title": self.title,
            "service": self.service,
            "model": self.model_ref,
            "model_title": self.model_title,
            "family": family.name,
            "image_rule": family.rule,
            "image_rule_source": family.source,
            "billing": family.billing,
            "input_usd_per_mtok": prices[0] if prices else None,
            "output_usd_per_mtok": prices[1] if prices else None,
            "price_source": self.price_source if family.billing == "tokens" else "GB-second list price",
            "endpoint": self.endpoint or None,
            "deployment": self.deployment or None,
            "batch_deployment": self.batch_deployment or None,
            "base_url": self.base_url or None,
            "image_detail": self.image_detail if family.takes_detail else None,
            "max_output_tokens": self.max_output_tokens,
            "stream": self.stream,
            "color": self.color,
        }


_FIELDS = {f.name: f for f in fields(Target) if f.name not in ("id", "color")}
_STRINGS = ("service", "model", "title", "endpoint", "deployment", "batch_deployment", "base_url", "api_key_env", "image_detail")
_NUMBERS = ("temperature", "input_usd_per_mtok", "output_usd_per_mtok")


@dataclass(frozen=True)
class Catalogue:
    """Every target, in the order given, and where they were read from (None: the built-in defaults)."""

    targets: tuple[Target, ...]
    source: Path | None = None
    by_id: Mapping[str, Target] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {t.id: t for t in self.targets})

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.targets]

    @property
    def source_text(self) -> str:
        return str(self.source) if self.source else "built-in defaults (no targets.toml)"

    def get(self, target_id: str) -> Target:
        try:
            return self.by_id[target_id]
        except KeyError:
            raise UsageError(f"unknown target {target_id!r}", hint=f"choose from {', '.join(self.ids)}") from None

    def parse(self, text: str | None, default: Sequence[str] | None = None) -> list[str]:
        """`a,b` -> validated target ids, in the order given, without duplicates; empty -> a usage error."""
        if text is None:
            return list(default if default else self.ids)
        chosen: list[str] = []
        for part in text.split(","):
            name = part.strip()
            if not name:
                continue
            self.get(name)
            if name not in chosen:
                chosen.append(name)
        if not chosen:
            raise UsageError("no targets given", hint=f"choose from {', '.join(self.ids)}")
        return chosen

    def enabled(self, settings: Settings) -> list[str]:
        """The targets MCV_TARGETS enables (all of them when it is not set)."""
        if not settings.targets:
            return self.ids
        unknown = [t for t in settings.targets if t not in self.by_id]
        if unknown:
            raise CatalogueError(
                f"MCV_TARGETS names targets that are not in the catalogue: {', '.join(unknown)}",
                hint=f"choose from {', '.join(self.ids)} ({self.source_text})",
            )
        return list(settings.targets)

    def bedrock_model_ids(self, settings: Settings) -> list[str]:
        """Terraform's bedrock_model_ids for this catalogue: the settings' model (the root's bedrock_model_id) and
        the model of every enabled Bedrock target (more_bedrock_model_ids), each once."""
        models = [self.by_id[tid].model for tid in self.enabled(settings) if self.by_id[tid].service == "bedrock"]
        return list(dict.fromkeys(m for m in (settings.bedrock_model_id, *models) if m))

    def title(self, target_id: str) -> str:
        target = self.by_id.get(target_id)
        return target.title if target is not None else target_id

    def color(self, target_id: str) -> str:
        target = self.by_id.get(target_id)
        return target.color if target is not None else ""


def catalogue_path(settings: Settings, cwd: Path | None = None) -> Path | None:
    """The catalogue file: MCV_TARGETS_FILE (which must exist), else targets.toml here if there is one."""
    if settings.targets_file:
        path = Path(settings.targets_file).expanduser()
        if not path.is_file():
            raise CatalogueError(f"{path}: no such file (MCV_TARGETS_FILE)", hint="fix MCV_TARGETS_FILE or create the file")
        return path
    path = (cwd or Path.cwd()) / DEFAULT_FILE
    return path if path.is_file() else None


def load(settings: Settings, cwd: Path | None = None) -> Catalogue:
    path = catalogue_path(settings, cwd)
    if path is None:
        return defaults(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: cannot be read ({exc})") from None
    return parse(text, settings, path)


def defaults(settings: Settings) -> Catalogue:
    """The proof of concept's three targets, from the settings (the ids history has always used)."""
    from .services import registry

    raw = {
        "sagemaker": {"service": "sagemaker", "endpoint": settings.sagemaker_endpoint},
        "bedrock": {"service": "bedrock", "model": settings.bedrock_model_id},
        "azure_openai": {
            "service": "azure_openai",
            "deployment": settings.azure_deployment,
            "batch_deployment": settings.azure_batch_deployment,
            "model": settings.azure_model,
            "image_detail": settings.azure_image_detail,
        },
    }
    targets = []
    for target_id, values in raw.items():
        cls = registry.get(values["service"])
        targets.append(Target(id=target_id, title=cls.service_title, **values))  # type: ignore[arg-type]
    return Catalogue(_colour(targets), None)


def parse(text: str, settings: Settings, path: Path | None = None) -> Catalogue:
    """A catalogue from TOML text; every problem is a CatalogueError naming the file and, where known, the line."""
    from .services import registry

    where = str(path) if path else "targets"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{where}: not valid TOML: {exc}", hint="fix the syntax at that line") from None
    unknown_top = [k for k in data if k != "targets"]
    if unknown_top:
        name = unknown_top[0]
        place = _at(where, text, name)
        if place == where:  # a table of its own ([providers.x]): find its first header
            headers = [i for i, line in enumerate(text.splitlines()) if line.lstrip().startswith(f"[{name}")]
            place = f"{where}:{headers[0] + 1}" if headers else where
        raise CatalogueError(
            f"{place}: unknown table or key {name!r}",
            hint="the catalogue holds only [targets.<id>] tables",
        )
    tables = data.get("targets")
    if not isinstance(tables, dict) or not tables:
        raise CatalogueError(f"{where}: no targets", hint="add a table [targets.<id>] with service and model")
    targets = []
    for target_id, values in tables.items():
        place = _at(where, text, f"targets.{target_id}", table=True)
        if not ID_PATTERN.fullmatch(target_id):
            raise CatalogueError(
                f"{place}: target id {target_id!r} is not valid",
                hint="use lower-case letters, digits, - and _ only",
            )
        if not isinstance(values, dict):
            raise CatalogueError(f"{place}: targets.{target_id} must be a table", hint=f"write [targets.{target_id}]")
        for key in values:
            if key not in _FIELDS:
                near = _nearest(key, _FIELDS)
                raise CatalogueError(
                    f"{_at(where, text, key, after=f'targets.{target_id}')}: unknown field {key!r} in target {target_id!r}",
                    hint=f"did you mean {near!r}?" if near else f"known fields: {', '.join(_FIELDS)}",
                )
        service = values.get("service")
        if not isinstance(service, str) or not service:
            raise CatalogueError(f"{place}: target {target_id!r} has no service", hint=f"set service to one of {', '.join(registry.names())}")
        if service not in registry.names():
            raise CatalogueError(
                f"{_at(where, text, 'service', after=f'targets.{target_id}')}: unknown service {service!r} in target {target_id!r}",
                hint=f"choose from {', '.join(registry.names())}",
            )
        cls = registry.get(service)
        checked = _typed(values, target_id, where, text)
        for name in cls.required_fields:
            if not checked.get(name):
                raise CatalogueError(
                    f"{place}: target {target_id!r} ({service}) needs {name}",
                    hint=cls.field_help.get(name, f"set {name}"),
                )
        checked.setdefault("title", "")
        target = Target(id=target_id, **checked)  # type: ignore[arg-type]
        if not target.title:
            target = _with(target, title=_default_title(target, cls.service_title))
        targets.append(target)
    return Catalogue(_colour(targets), path)


def _typed(values: Mapping[str, Any], target_id: str, where: str, text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        place = _at(where, text, key, after=f"targets.{target_id}")
        if key in _STRINGS:
            if not isinstance(value, str):
                raise CatalogueError(f"{place}: {key} of target {target_id!r} must be a string, not {value!r}")
            out[key] = value.strip()
        elif key == "max_output_tokens":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise CatalogueError(f"{place}: max_output_tokens of target {target_id!r} must be a whole number above 0")
            out[key] = value
        elif key == "stream":
            if not isinstance(value, bool):
                raise CatalogueError(f"{place}: stream of target {target_id!r} must be true or false, not {value!r}")
            out[key] = value
        elif key in _NUMBERS:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise CatalogueError(f"{place}: {key} of target {target_id!r} must be a number, 0 or more")
            out[key] = float(value)
    if out.get("image_detail", "auto") not in models.DETAILS:
        raise CatalogueError(f"{_at(where, text, 'image_detail', after=f'targets.{target_id}')}: image_detail of target {target_id!r} must be low, high or auto")
    if ("input_usd_per_mtok" in out) != ("output_usd_per_mtok" in out):
        raise CatalogueError(
            f"{_at(where, text, f'targets.{target_id}', table=True)}: target {target_id!r} gives only one of input_usd_per_mtok and output_usd_per_mtok",
            hint="give both prices, USD per million tokens",
        )
    if "temperature" in out and out["temperature"] > 2:
        raise CatalogueError(f"{_at(where, text, 'temperature', after=f'targets.{target_id}')}: temperature of target {target_id!r} must be 0 to 2")
    return out


def _default_title(target: Target, service_title: str) -> str:
    known = target.known
    if target.service == "sagemaker":
        return service_title
    name = known.title if known is not None else target.model_ref
    return f"{name} ({service_title})"


def _with(target: Target, **changes: Any) -> Target:
    return replace(target, **changes)


def _colour(targets: Iterable[Target]) -> tuple[Target, ...]:
    taken: set[str] = set()
    out = []
    free = iter(PALETTE)
    for target in targets:
        color = DEFAULT_COLORS.get(target.id)
        if color is None or color in taken:
            color = next((c for c in free if c not in taken), "#7F7F7F")  # more targets than colours: grey
        taken.add(color)
        out.append(_with(target, color=color))
    return tuple(out)


def colors_for(ids: Iterable[str], catalogue: Catalogue) -> dict[str, str]:
    """A colour for every id: the catalogue's, and for ids no longer in it (old history) the next unused ones."""
    colors: dict[str, str] = {}
    used = {t.color for t in catalogue.targets}
    spare = [c for c in PALETTE if c not in used] or list(PALETTE)
    extra = 0
    for target_id in ids:
        target_id = str(target_id)
        if target_id in colors:
            continue
        color = catalogue.color(target_id) or DEFAULT_COLORS.get(target_id)
        if not color:
            color = spare[extra % len(spare)]
            extra += 1
        colors[target_id] = color
    return colors


def _at(where: str, text: str, key: str, *, table: bool = False, after: str | None = None) -> str:
    """`file:line` for a table header or a key (the first after `after`'s header), or just the file."""
    lines = text.splitlines()
    start = 0
    if after is not None:
        header = _header_line(lines, after)
        if header is None:
            return where
        start = header + 1
    if table:
        found = _header_line(lines, key)
        return f"{where}:{found + 1}" if found is not None else where
    leaf = key.split(".")[-1]
    pattern = re.compile(rf"^\s*(?:{re.escape(leaf)}|\"{re.escape(leaf)}\")\s*=")
    for number in range(start, len(lines)):
        if number > start and lines[number].lstrip().startswith("[") and after is not None:
            break
        if pattern.match(lines[number]):
            return f"{where}:{number + 1}"
    return where


def _header_line(lines: Sequence[str], dotted: str) -> int | None:
    parts = dotted.split(".")
    wanted = re.compile(r"^\s*\[\s*" + r"\s*\.\s*".join(rf"(?:{re.escape(p)}|\"{re.escape(p)}\")" for p in parts) + r"\s*\]")
    for number, line in enumerate(lines):
        if wanted.match(line):
            return number
    return None


def _nearest(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None
