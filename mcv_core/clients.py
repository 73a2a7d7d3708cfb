"""SDK clients, built once and shared (boto3 clients and the openai client are thread-safe).

Cloud mode: the SDKs' own chains decide everything (AWS_PROFILE, role, AWS_ENDPOINT_URL_*, AZURE_OPENAI_API_KEY
or Entra ID). Local mode: endpoints and credentials are the embedded local cloud's, read from its state file.
Retries are the SDKs' own: botocore's standard retry mode and openai's max_retries, both from MCV_MAX_ATTEMPTS.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit, urlunsplit

import boto3
from botocore.config import Config

from .config import Settings
from .errors import ConfigError

# The boto3 service names used here, and the endpoint variables of the local cloud's `env`.
AWS_SERVICES = (
    "s3", "dynamodb", "sqs", "sagemaker", "sagemaker-runtime", "bedrock", "bedrock-runtime", "logs", "lambda", "iam", "sts", "cloudwatch",
)  # fmt: skip


class AttemptCount:
    """HTTP attempts made by the SDK calls of one thread inside `counting_attempts()`, retries included."""

    def __init__(self) -> None:
        self.value = 0


_current = threading.local()


@contextmanager
def counting_attempts() -> Iterator[AttemptCount]:
    """Count every request the SDKs send from this thread meanwhile (each provider call runs in its own thread).
    The SDKs retry by themselves; this is how a result knows how many attempts it took, failed ones included."""
    count = AttemptCount()
    previous = getattr(_current, "count", None)
    _current.count = count
    try:
        yield count
    finally:
        _current.count = previous


def _count_attempt(*args: Any, **kwargs: Any) -> None:
    count = getattr(_current, "count", None)
    if count is not None:
        count.value += 1


@dataclass(frozen=True)
class Endpoints:
    """Where the clients connect: None means the SDK decides (cloud mode)."""

    aws: dict[str, str]
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    azure_endpoint: str | None = None
    azure_api_key: str | None = None
    openai_base_url: str | None = None  # the local cloud's OpenAI-compatible server
    openai_api_key: str | None = None
    sagemaker_transform_url: str | None = None  # local cloud only: where SageMaker's transform-job calls go


class Clients:
    """One place that builds SDK clients for a Settings; clients are cached per (service, timeout)."""

    def __init__(self, settings: Settings, endpoints: Endpoints | None = None) -> None:
        self.settings = settings
        if endpoints is None:
            endpoints = _local_endpoints(settings) if settings.is_local else Endpoints(aws={})
        self.endpoints = endpoints
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, float | None, int | None], Any] = {}
        self._session: boto3.Session | None = None

    def _boto_session(self) -> boto3.Session:
        if self._session is None:
            if self.endpoints.aws_access_key_id:
                self._session = boto3.Session(
                    aws_access_key_id=self.endpoints.aws_access_key_id,
                    aws_secret_access_key=self.endpoints.aws_secret_access_key,
                    region_name=self.settings.region,
                )
            else:
                self._session = boto3.Session(region_name=self.settings.region)
        return self._session

    def aws(self, service: str, *, timeout: float | None = None, max_attempts: int | None = None) -> Any:
        """A boto3 client. `timeout` is the read timeout of one attempt; retries use botocore's standard mode."""
        key = (service, timeout, max_attempts)
        with self._lock:
            client = self._cache.get(key)
            if client is None:
                attempts = max_attempts or self.settings.max_attempts
                config = Config(
                    retries={"mode": "standard", "total_max_attempts": attempts},
                    connect_timeout=min(10.0, timeout or 10.0),
                    read_timeout=timeout or 60.0,
                    max_pool_connections=32,
                    s3={"addressing_style": "path"} if self.settings.is_local else None,
                    # SigV4 for S3 too, presigned URLs included (botocore still presigns SigV2 by default in some
                    # regions; SigV2 is deprecated and refused by regions opened since 2014).
                    signature_version="s3v4" if service == "s3" else None,
                )
                kwargs: dict[str, Any] = {"config": config}
                if service in self.endpoints.aws:
                    kwargs["endpoint_url"] = self.endpoints.aws[service]
                client = self._boto_session().client(service, **kwargs)
                client.meta.events.register("before-send", _count_attempt)  # every attempt, retries included
                if service == "sagemaker" and self.endpoints.sagemaker_transform_url:
                    _route_transform_jobs(client, self.endpoints.sagemaker_transform_url)
                self._cache[key] = client
            return client

    def azure_openai(self, *, timeout: float | None = None, max_attempts: int | None = None) -> Any:
        """An openai.AzureOpenAI client; the key comes from AZURE_OPENAI_API_KEY or Entra ID in cloud mode."""
        from openai import AzureOpenAI, DefaultHttpxClient

        key = ("azure_openai", timeout, max_attempts)
        with self._lock:
            client = self._cache.get(key)
            if client is not None:
                return client
            endpoint = self.endpoints.azure_endpoint or self.settings.azure_endpoint
            if not endpoint:
                self.settings.require("azure_endpoint")
            kwargs: dict[str, Any] = {
                "azure_endpoint": endpoint,
                "api_version": self.settings.azure_api_version,
                "http_client": DefaultHttpxClient(event_hooks={"request": [_count_attempt]}),
                "timeout": timeout or self.settings.timeout_s,
                # openai counts retries, botocore counts attempts: the same budget either way.
                "max_retries": max(0, (max_attempts or self.settings.max_attempts) - 1),
            }
            if self.endpoints.azure_api_key:
                kwargs["api_key"] = self.endpoints.azure_api_key
            elif not os.environ.get("AZURE_OPENAI_API_KEY") and not os.environ.get("AZURE_OPENAI_AD_TOKEN"):
                kwargs["azure_ad_token_provider"] = _entra_token_provider()
            client = AzureOpenAI(**kwargs)
            self._cache[key] = client
            return client


    def openai_compatible(
        self, *, base_url: str = "", api_key_env: str = "", timeout: float | None = None, max_attempts: int | None = None
    ) -> Any:
        """An openai.OpenAI client for an OpenAI-compatible server: the target's base_url, else OPENAI_BASE_URL
        (the local cloud's server in local mode); the key from the target's api_key_env, else OPENAI_API_KEY."""
        from openai import DefaultHttpxClient, OpenAI

        key = ("openai", base_url, api_key_env, timeout, max_attempts)
        with self._lock:
            client = self._cache.get(key)
            if client is not None:
                return client
            url = base_url or self.endpoints.openai_base_url or os.environ.get("OPENAI_BASE_URL") or None
            variable = api_key_env or "OPENAI_API_KEY"
            api_key = os.environ.get(variable)
            if not base_url and not api_key_env and self.endpoints.openai_api_key:
                api_key = self.endpoints.openai_api_key
            if not api_key:
                raise ConfigError(
                    f"{variable} is not set",
                    hint=f"set {variable} to the server's key (servers that take none, such as Ollama, accept any value)",
                )
            client = OpenAI(
                base_url=url,
                api_key=api_key,
                http_client=DefaultHttpxClient(event_hooks={"request": [_count_attempt]}),
                timeout=timeout or self.settings.timeout_s,
                max_retries=max(0, (max_attempts or self.settings.max_attempts) - 1),
            )
            self._cache[key] = client
            return client


def _entra_token_provider() -> Any:
    try:
        from azure.identity import DefaultAzureCredential, get_bearer_token_provider
    except ImportError:
        raise ConfigError(
            "AZURE_OPENAI_API_KEY is not set",
            hint="set AZURE_OPENAI_API_KEY, or install azure-identity to sign in with Entra ID",
        ) from None
    return get_bearer_token_provider(DefaultAzureCredential(), "https://cognitiveservices.azure.com/.default")


# SageMaker's transform-job operations, which the local cloud's AI emulator serves instead of moto.
TRANSFORM_JOB_OPERATIONS = ("CreateTransformJob", "DescribeTransformJob", "StopTransformJob", "ListTransformJobs")


def _route_transform_jobs(client: Any, url: str) -> None:
    """Local cloud only (its Endpoints carry the emulator's URL; on AWS they do not, nothing is registered, and
    every SageMaker call goes where the SDK's own endpoint resolution sends it). Why: moto serves SageMaker's
    control plane (models, endpoints) but only stores transform jobs and never runs them, so these four operations
    go to the local cloud's AI emulator, which runs them with the endpoint's own model and handler. The request is
    pointed there before it is signed, so it carries an ordinary SigV4 signature for the host it reaches."""
    target = urlsplit(url)

    def to_emulator(request: Any, **kwargs: Any) -> None:
        parts = urlsplit(request.url)
        request.url = urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))

    for operation in TRANSFORM_JOB_OPERATIONS:
        client.meta.events.register(f"before-sign.sagemaker.{operation}", to_emulator)


def _local_endpoints(settings: Settings) -> Endpoints:
    from .local.state import read_connection

    conn = read_connection(settings.data_dir)
    return Endpoints(
        aws={service: conn.aws_endpoint(service) for service in AWS_SERVICES},
        aws_access_key_id=conn.access_key_id,
        aws_secret_access_key=conn.secret_access_key,
        azure_endpoint=conn.azure_endpoint,
        azure_api_key=conn.azure_api_key,
        openai_base_url=conn.openai_base_url,
        openai_api_key=conn.azure_api_key,
        sagemaker_transform_url=conn.emulator_url,
    )
