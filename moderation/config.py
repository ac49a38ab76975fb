"""Settings: read once from the environment (and `.env`) into one typed object.

API, CLI and workers all read the same `Settings`. Values are cast and validated on
read, so a malformed variable fails at start with its name in the message.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Spelled here rather than in moderation/scoring/hardware.py, which needs torch: the API
# reads these settings too and must not pay for importing it.
ToxicityBackend = Literal["torch", "onnx"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
ToxicityDtype = Literal["auto", "float32", "bfloat16", "float16", "int8"]
# A CPU worker's claim when MODERATION_SCORING_BATCH is unset (moderation/scoring/
# hardware.py has the GPU's); here so that commands that only send wake-ups need no torch.
CPU_SCORING_BATCH = 32
_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")


class Settings(BaseSettings):
    """Service configuration; every field is `MODERATION_<NAME>` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="MODERATION_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        # "inf" reads as a float, and a number of seconds that is infinite overflows
        # wherever it becomes a time: refused at start, naming the variable.
        allow_inf_nan=False,
        populate_by_name=True,
    )

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "MODERATION_DATABASE_URL")
    )
    broker_url: str | None = Field(
        default=None, validation_alias=AliasChoices("BROKER_URL", "MODERATION_BROKER_URL")
    )
    # Where `moderation dev` keeps its embedded PostgreSQL and Redis, and the models folder.
    data_dir: Path = Path(".moderation")
    models_dir: Path | None = None
    migrations_dir: Path = Path(__file__).resolve().parent.parent / "migrations"

    db_pool_min: int = Field(default=2, ge=0)
    db_pool_max: int = Field(default=10, ge=1)
    # The longest a request waits for a connection (every one busy, or PostgreSQL not
    # answering) before it is answered 503 with Retry-After, rather than held open.
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    # A request body larger than this is refused (413) before it is read whole. The
    # longest comment a site may allow, 20,000 characters, is 80,000 bytes as emoji.
    max_request_bytes: int = Field(default=128 * 1024, ge=1024)
    # Sites (keys, origins, limits) are cached per API process for this long.
    site_cache_seconds: float = Field(default=5.0, ge=0)
    # An idle client connection is closed after this long (uvicorn's keep-alive). Behind a
    # proxy that reuses connections, set it above the proxy's own idle timeout, so that the
    # proxy, not the API, closes them: otherwise a request can leave on one being closed.
    api_keepalive_seconds: int = Field(default=5, ge=1, le=3600)

    # Scoring (workers): toxicity models by name, first English one wins for English.
    toxicity_models: Annotated[tuple[str, ...], NoDecode] = ("original",)
    # Without weights a worker refuses to start; `moderation dev` alone may set this to
    # fall back to a keyword scorer that it announces loudly.
    dev_scorer: bool = False
    # Comments per claim and tokens per forward pass; unset, the device's defaults
    # (moderation/scoring/hardware.py: 32 and 512 on CPU, 512 and 65,536 on a GPU).
    scoring_batch: int | None = Field(default=None, ge=1, le=4096)
    scoring_token_budget: int | None = Field(default=None, ge=16)
    # Where toxicity models run (auto|cpu|cuda|cuda:N), in what precision, with which
    # engine: a worker asked for what this machine lacks refuses to start.
    toxicity_device: str = "auto"
    toxicity_dtype: ToxicityDtype = "auto"
    toxicity_backend: ToxicityBackend = "torch"
    # A claimed comment is someone else's to retry once this lease lapses (a dead worker).
    scoring_lease_seconds: float = Field(default=120, gt=0)
    scoring_max_attempts: int = Field(default=3, ge=1)
    # The sweep re-queues comments pending for longer than this (a lost message).
    sweep_after_seconds: float = Field(default=60, gt=0)
    sweep_interval_seconds: float = Field(default=30, gt=0)
    retrain_interval_seconds: float = Field(default=3600, gt=0)
    torch_threads: int = Field(default=0, ge=0)
    # A worker process writes this file once its models are loaded (it can score), and the
    # worker removes it when it stops: `moderation dev` waits on it, and an orchestrator's
    # readiness probe can too.
    worker_ready_file: Path | None = None

    # Perspective-style scoring (`comments:analyze`, Coral's phase): an answer not back
    # from a worker within this long is a 503 (no worker took it) or 504 (one did).
    # Coral waits 500 ms by default for Perspective; give it the same or less there.
    analyze_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    # A worker gathers concurrent requests for this long after the first one arrives, or
    # until their texts fill this many tokens (about four characters each), then scores
    # them as one batch: the toxicity model's micro-batches by token budget do the rest.
    analyze_gather_ms: float = Field(default=5.0, ge=0, le=1000)
    analyze_batch_tokens: int = Field(default=512, ge=16)
    # The base URL clients reach this service at, for the discovery document's `rootUrl`;
    # unset, it is the URL the discovery request itself came to.
    public_url: str | None = None
    # The host names the API answers to ("comments.example.org,*.example.org"); another
    # Host gets a 400, so no answer (the discovery document's rootUrl, a redirect) is
    # built from a Host header someone made up. "*", the default, answers any.
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = ("*",)

    # The moderator desk signs its session cookies with this. No default: without it the
    # desk answers 503 and says so (the API is unaffected); `moderation dev` keeps one in
    # the data dir. All API processes behind one address must share it.
    session_secret: SecretStr | None = Field(default=None, min_length=32)
    # Secure cookies (sent over HTTPS only); `moderation dev` turns this off for plain http.
    session_cookie_secure: bool = True
    # A desk session ends this long after sign-in, whatever happens meanwhile.
    session_max_age_seconds: int = Field(default=12 * 3600, ge=60)

    # Readers' privacy: how often beat clears client addresses and user agents past each
    # site's `ip_retention_days` (and forgets webhook events past `webhook_log_days`).
    retention_interval_seconds: float = Field(default=3600, gt=0)

    # Webhooks. Targets on loopback or private networks are refused unless this is set
    # (tests, development, a receiver the operator runs on the same private network).
    webhook_allow_private: bool = False
    # The deadline of one attempt, all told (name lookup, connection, request, answer).
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # Retries wait base, 2x base, 4x base... (each at most 4 h) for up to `retry_for`
    # after the first attempt; then the delivery is marked failed.
    webhook_retry_base_seconds: float = Field(default=30, gt=0)
    webhook_retry_for_seconds: float = Field(default=24 * 3600, gt=0)
    # How often beat looks for deliveries that are due (the first attempt and retries).
    webhook_poll_seconds: float = Field(default=5, gt=0)
    # The delivery log (events, deliveries, attempts) is kept this long.
    webhook_log_days: int = Field(default=30, ge=1)
    # With a token, /metrics (API and worker) answers only `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None
    # A worker serves its metrics (all its pool processes together) on this port, if set,
    # on every interface unless told one (`moderation dev` keeps it to its own).
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from other hosts; see metrics_token

    log_level: LogLevel = "INFO"
    log_json: bool = True
    access_log: bool = True

    @field_validator("toxicity_models", "allowed_hosts", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        # An environment variable gives "original,multilingual".
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("toxicity_device")
    @classmethod
    def _device(cls, value: str) -> str:
        value = value.strip().lower()
        if not _DEVICE.match(value):
            raise ValueError(f"{value!r} is not auto, cpu, cuda or cuda:N")
        return value

    @field_validator("metrics_token", "worker_metrics_port", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Compose passes `${VAR:-}` through as an empty string when the operator set none.
        return None if value == "" else value

    @property
    def models_path(self) -> Path:
        return self.models_dir or self.data_dir / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings()


def explain(error: ValidationError) -> str:
    """The first malformed setting, in one line naming the variable an operator sets
    (pydantic names the field, and prints its own help link)."""
    problem = error.errors(include_url=False)[0]
    field = str(problem["loc"][0]) if problem["loc"] else ""
    return f"{variable(field)}: {problem['msg']}"


def variable(field: str) -> str:
    """The environment variable that sets `field` (a name pydantic reports as is)."""
    if field not in Settings.model_fields:
        return field
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"MODERATION_{field.upper()}"
