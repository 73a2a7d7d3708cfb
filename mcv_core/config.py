"""Settings: one frozen object read from the environment and an optional `.env` file.

The SDKs' own variables (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL_*, AZURE_OPENAI_API_KEY, ...) are left to
the SDKs: this module reads only what the app needs to know itself and never copies credentials.
Every MCV_* variable is listed in `VARIABLES` with its default and meaning; the README's table is made
from the same list (tests/unit/test_config.py keeps them in step).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Mapping

from dotenv import dotenv_values

from . import stack
from .errors import ConfigError

MODES = ("local", "cloud")
LOCAL_ACCOUNT_ID = "123456789012"  # moto's account: the local cloud's names are derived from it
DEFAULT_PROMPT = "Describe this image in one or two sentences."


@dataclass(frozen=True)
class Variable:
    name: str
    field: str
    default: str
    help: str


# Variables the app reads. Cloud-only names are empty by default and required in cloud mode.
VARIABLES: tuple[Variable, ...] = (
    Variable("MCV_MODE", "mode", "local", "`local` (embedded local cloud, no account) or `cloud` (real AWS and Azure)"),
    Variable("MCV_DATA_DIR", "data_dir", ".mcv", "local cloud state and logs, and the history cache"),
    Variable("AWS_REGION", "region", stack.DEFAULT_REGION, "AWS region (AWS_DEFAULT_REGION is honoured too)"),
    Variable("MCV_TARGETS_FILE", "targets_file", "", "the catalogue of targets (TOML); default targets.toml in the working directory, else the three built-in targets"),
    Variable("MCV_TARGETS", "targets", "", "targets enabled, comma separated ids from the catalogue (default: all; MCV_PROVIDERS is read too)"),
    Variable("MCV_BUCKET", "upload_bucket", "", "S3 bucket for uploads (cloud mode)"),
    Variable("MCV_TABLE", "results_table", "", "DynamoDB results table (cloud mode)"),
    Variable("MCV_SAGEMAKER_ENDPOINT", "sagemaker_endpoint", "", "SageMaker endpoint name (cloud mode)"),
    Variable("MCV_LAMBDA_FUNCTION", "lambda_function", "", "S3 event Lambda function name (cloud mode, optional)"),
    Variable("MCV_BEDROCK_MODEL_ID", "bedrock_model_id", stack.DEFAULT_BEDROCK_MODEL_ID, "Bedrock model id or inference profile of the built-in `bedrock` target"),
    Variable("AZURE_OPENAI_ENDPOINT", "azure_endpoint", "", "Azure OpenAI endpoint URL (cloud mode)"),
    Variable("MCV_AZURE_DEPLOYMENT", "azure_deployment", stack.DEFAULT_AZURE_DEPLOYMENT, "Azure OpenAI deployment of the built-in `azure_openai` target"),
    Variable("MCV_AZURE_BATCH_DEPLOYMENT", "azure_batch_deployment", stack.AZURE_BATCH_DEPLOYMENT, "Azure OpenAI Global-Batch deployment of the built-in `azure_openai` target, for batch benchmarks"),
    Variable("MCV_BEDROCK_BATCH_ROLE_ARN", "bedrock_batch_role_arn", "", "IAM role Bedrock batch inference assumes (terraform output bedrock_batch_role_arn; cloud mode, batch benchmarks)"),
    Variable("MCV_AZURE_MODEL", "azure_model", stack.DEFAULT_AZURE_MODEL, "model behind that deployment, for pricing and token accounting"),
    Variable("OPENAI_API_VERSION", "azure_api_version", stack.DEFAULT_AZURE_API_VERSION, "Azure OpenAI API version"),
    Variable("MCV_AZURE_IMAGE_DETAIL", "azure_image_detail", "auto", "image detail of the built-in `azure_openai` target: auto, low or high"),
    Variable("MCV_PROMPT", "default_prompt", DEFAULT_PROMPT, "prompt used when none is given"),
    Variable("MCV_MAX_OUTPUT_TOKENS", "max_output_tokens", "300", "output token limit of a call (a target's max_output_tokens wins)"),
    Variable("MCV_TIMEOUT_S", "timeout_s", "60", "timeout of one attempt of a provider call, seconds (per target: MCV_TIMEOUT_S_<TARGET ID>)"),
    Variable("MCV_MAX_ATTEMPTS", "max_attempts", "3", "attempts per call, first included, through the SDKs' retry settings"),
    Variable("MCV_METRICS", "metrics", "1", "publish each result's latency, TTFT, errors, throttles, cold starts and cost to CloudWatch: 1, or 0 not to"),
    Variable("MCV_STREAM", "stream", "1", "stream answers (time to first token, tokens per second): 1, or 0 to call without (a target's `stream = false`: that target)"),
    Variable("MCV_MAX_IMAGE_MB", "max_image_mb", "20", "largest accepted upload, MB"),
    Variable("MCV_MAX_PIXELS", "max_pixels", "50000000", "largest accepted image, pixels (checked before decoding)"),
    Variable("MCV_RESULT_TTL_DAYS", "result_ttl_days", "90", "days a result is kept in DynamoDB; 0 keeps it forever"),
    Variable("MCV_SAGEMAKER_MEMORY_MB", "sagemaker_memory_mb", str(stack.SAGEMAKER_MEMORY_MB), "serverless memory size, for cost"),
    Variable("MCV_TRANSFORM_INSTANCE_TYPE", "transform_instance_type", stack.TRANSFORM_INSTANCE_TYPE, "instance type of the SageMaker Batch Transform jobs of batch benchmarks (terraform output sagemaker_transform_instance_type)"),
    Variable("MCV_LOCAL_IDLE_S", "local_idle_s", "120", "local cloud: idle seconds before the SageMaker worker scales to zero"),
    Variable("MCV_LOCAL_ALARM_PERIOD_S", "local_alarm_period_s", "60", "local cloud: period of the alarms on the app's own metrics, seconds (10, 30 or a multiple of 60; the Terraform stack's is 300), so that they change state in minutes; read at `local up` and `local provision`"),
    Variable("MCV_LOG_LEVEL", "log_level", "WARNING", "log level of the command line: DEBUG, INFO, WARNING or ERROR (no level logs credentials)"),
)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_BY_FIELD = {v.field: v for v in VARIABLES}
_TIMEOUT_PREFIX = "MCV_TIMEOUT_S_"  # + target id in capitals (- as _): that target's own timeout
_CONCURRENCY_PREFIX = "MCV_CONCURRENCY_"  # + target id in capitals (- as _): calls in flight at once, per process
_INTS = ("max_output_tokens", "max_attempts", "max_pixels", "result_ttl_days", "sagemaker_memory_mb", "local_alarm_period_s")
_FLOATS = ("timeout_s", "max_image_mb", "local_idle_s")
_BOOLS = ("stream", "metrics")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    mode: str = "local"
    data_dir: Path = Path(".mcv")
    region: str = stack.DEFAULT_REGION
    targets_file: str = ""
    targets: tuple[str, ...] = ()  # enabled target ids; empty: every target of the catalogue
    upload_bucket: str = ""
    results_table: str = ""
    sagemaker_endpoint: str = ""
    lambda_function: str = ""
    bedrock_model_id: str = stack.DEFAULT_BEDROCK_MODEL_ID
    azure_endpoint: str = ""
    azure_deployment: str = stack.DEFAULT_AZURE_DEPLOYMENT
    azure_batch_deployment: str = stack.AZURE_BATCH_DEPLOYMENT
    bedrock_batch_role_arn: str = ""
    azure_model: str = stack.DEFAULT_AZURE_MODEL
    azure_api_version: str = stack.DEFAULT_AZURE_API_VERSION
    azure_image_detail: str = "auto"
    default_prompt: str = DEFAULT_PROMPT
    max_output_tokens: int = 300
    timeout_s: float = 60.0
    provider_timeouts: Mapping[str, float] = field(default_factory=dict)
    provider_concurrency: Mapping[str, int] = field(default_factory=dict)
    max_attempts: int = 3
    stream: bool = True  # services that can stream do, unless a target says `stream = false`
    metrics: bool = True  # each result's figures go to CloudWatch (metrics.py), off the call path
    max_image_mb: float = 20.0
    max_pixels: int = 50_000_000
    result_ttl_days: int = 90
    sagemaker_memory_mb: int = stack.SAGEMAKER_MEMORY_MB
    transform_instance_type: str = stack.TRANSFORM_INSTANCE_TYPE
    local_idle_s: float = 120.0
    local_alarm_period_s: int = 60  # local cloud only: the target alarms' period (alarms.py)
    log_level: str = "WARNING"

    @property
    def is_local(self) -> bool:
        return self.mode == "local"

    @property
    def max_image_bytes(self) -> int:
        return int(self.max_image_mb * 1024 * 1024)

    def timeout_for(self, target_id: str) -> float:
        return self.provider_timeouts.get(env_suffix(target_id), self.timeout_s)

    def concurrency_for(self, target_id: str, default: int) -> int:
        """MCV_CONCURRENCY_<TARGET> when set, else the service's default (`default`)."""
        return self.provider_concurrency.get(env_suffix(target_id), default)

    def require(self, field_name: str) -> str:
        """The value of a setting that must be set, or a ConfigError naming its variable."""
        value = getattr(self, field_name)
        if not value:
            var = _BY_FIELD[field_name]
            raise ConfigError(
                f"{var.name} is not set",
                hint=f"set {var.name} to the {var.help.split(' (')[0]} in the environment or in .env",
            )
        return value

    def with_(self, **changes: object) -> "Settings":
        return replace(self, **changes)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = None) -> "Settings":
        """Settings from `environ` (default os.environ) over the optional .env file (MCV_ENV_FILE, default .env).

        The .env file also feeds the SDKs: its entries are put into os.environ when they are not set there,
        so AZURE_OPENAI_API_KEY or AWS_PROFILE written in .env reach the SDKs' own credential chains.
        """
        if environ is None:
            env_file = env_file if env_file is not None else os.environ.get("MCV_ENV_FILE", ".env")
            if env_file and Path(env_file).is_file():
                for key, value in dotenv_values(env_file).items():
                    if value is not None:
                        os.environ.setdefault(key, value)
            environ = os.environ
        return cls.from_mapping(environ)

    @classmethod
    def from_mapping(cls, env: Mapping[str, str]) -> "Settings":
        raw: dict[str, object] = {}
        for var in VARIABLES:
            value = env.get(var.name, "").strip()
            if var.name == "AWS_REGION" and not value:
                value = env.get("AWS_DEFAULT_REGION", "").strip()
            raw[var.field] = value or var.default
        values: dict[str, object] = {}
        for name, value in raw.items():
            var = _BY_FIELD[name]
            try:
                if name in _INTS:
                    values[name] = int(str(value))
                elif name in _FLOATS:
                    values[name] = float(str(value))
                elif name in _BOOLS:
                    text = str(value).lower()
                    if text not in _TRUE + _FALSE:
                        raise ConfigError(f"{var.name}={value!r} is neither on nor off", hint=f"set {var.name} to 1 or 0")
                    values[name] = text in _TRUE
                else:
                    values[name] = value
            except ValueError:
                raise ConfigError(f"{var.name}={value!r} is not a number", hint=f"set {var.name} to a number") from None
        values["data_dir"] = Path(str(values["data_dir"])).expanduser()
        mode = str(values["mode"]).lower()
        if mode not in MODES:
            raise ConfigError(f"MCV_MODE={mode!r} is not a mode", hint="set MCV_MODE to local or cloud")
        values["mode"] = mode
        enabled = str(values["targets"]) or env.get("MCV_PROVIDERS", "")
        if enabled.strip() and not enabled.replace(",", "").strip():
            raise ConfigError("MCV_TARGETS names no target", hint="give target ids separated by commas, or leave it unset")
        # Checked against the catalogue where it is loaded (targets.Catalogue.enabled).
        values["targets"] = tuple(dict.fromkeys(p.strip() for p in enabled.split(",") if p.strip()))
        values["log_level"] = str(values["log_level"]).upper()
        if values["log_level"] not in LOG_LEVELS:
            raise ConfigError(f"MCV_LOG_LEVEL={raw['log_level']!r} is not a log level", hint=f"set MCV_LOG_LEVEL to one of {', '.join(LOG_LEVELS)}")
        if not str(values["transform_instance_type"]).startswith("ml."):
            raise ConfigError(
                f"MCV_TRANSFORM_INSTANCE_TYPE={values['transform_instance_type']!r} is not a SageMaker instance type",
                hint="set MCV_TRANSFORM_INSTANCE_TYPE to one such as ml.m5.large",
            )
        if values["azure_image_detail"] not in ("auto", "low", "high"):
            raise ConfigError("MCV_AZURE_IMAGE_DETAIL must be auto, low or high", hint="set MCV_AZURE_IMAGE_DETAIL=auto")
        timeouts = {}
        for key, raw_value in env.items():
            if key.startswith(_TIMEOUT_PREFIX) and raw_value:
                try:
                    timeouts[env_suffix(key[len(_TIMEOUT_PREFIX) :])] = float(raw_value)
                except ValueError:
                    raise ConfigError(f"{key}={raw_value!r} is not a number", hint=f"set {key} to seconds") from None
        values["provider_timeouts"] = timeouts
        concurrency = {}
        for key, raw_value in env.items():
            if key.startswith(_CONCURRENCY_PREFIX) and raw_value:
                try:
                    concurrency[env_suffix(key[len(_CONCURRENCY_PREFIX) :])] = int(raw_value)
                except ValueError:
                    raise ConfigError(f"{key}={raw_value!r} is not a whole number", hint=f"set {key} to calls at once") from None
                if concurrency[env_suffix(key[len(_CONCURRENCY_PREFIX) :])] < 1:
                    raise ConfigError(f"{key} must be 1 or more", hint=f"set {key} to calls at once")
        values["provider_concurrency"] = concurrency
        for name in ("timeout_s", "max_image_mb", "local_idle_s", "max_attempts", "max_pixels", "max_output_tokens"):
            if values[name] <= 0:  # type: ignore[operator]
                var = _BY_FIELD[name]
                raise ConfigError(f"{var.name} must be positive", hint=f"set {var.name} to a positive number")
        period = values["local_alarm_period_s"]
        if not (period in (10, 30) or (period >= 60 and period % 60 == 0)):  # type: ignore[operator]
            raise ConfigError(
                f"MCV_LOCAL_ALARM_PERIOD_S={period} is not an alarm period",
                hint="set MCV_LOCAL_ALARM_PERIOD_S to 10, 30 or a multiple of 60 (CloudWatch's alarm periods)",
            )
        if values["result_ttl_days"] < 0:  # type: ignore[operator]
            raise ConfigError("MCV_RESULT_TTL_DAYS must be 0 or more", hint="0 keeps results forever")
        settings = cls(**values)  # type: ignore[arg-type]
        return settings.with_local_names() if settings.is_local else settings

    def with_local_names(self) -> "Settings":
        """In local mode the resource names are the local cloud's, whatever MCV_BUCKET etc. say."""
        names = stack.StackNames.for_account(LOCAL_ACCOUNT_ID)
        return replace(
            self,
            upload_bucket=names.upload_bucket,
            results_table=names.results_table,
            sagemaker_endpoint=names.sagemaker_endpoint,
            lambda_function=names.lambda_function,
            bedrock_batch_role_arn=f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:role/{names.bedrock_batch_role}",
        )

    def describe(self) -> dict[str, object]:
        """The settings as shown to a user (no secrets live here)."""
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), Path) else v) for f in fields(self)}


def env_suffix(target_id: str) -> str:
    """The per-target variable suffix, lower-cased as stored: `claude-3-haiku` -> `claude_3_haiku`."""
    return target_id.replace("-", "_").lower()
