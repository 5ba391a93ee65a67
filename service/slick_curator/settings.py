"""Service configuration from the environment or a .env file (prefix SLICK_).

No module-level instance: `create_app(Settings(...))` and tests construct their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from slick_curator.weights import DEFAULT_MODEL, default_cache_dir


class Settings(BaseSettings):
    """Every knob of the service. Each field is SLICK_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="SLICK_", env_file=".env", extra="ignore")

    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8000, ge=0, le=65535, description="Port to bind.")
    data_dir: Path = Field(Path("slick-data"), description="Uploads, job store, results.")
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Converted models.")
    model: str = Field(DEFAULT_MODEL, description="Default model: alias, folder or hub id.")
    engine: str = Field(
        "transformers", description="Default engine: transformers, vllm or openai ('fake' is "
        "for tests)."
    )
    device: str | None = Field(None, description="Torch device for transformers; auto if unset.")
    engine_options: dict[str, Any] = Field(
        default_factory=dict,
        description="JSON object of extra engine constructor options (e.g. batch_tokens).",
    )
    allowed_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Models a probe may ask for besides the default. Comma-separated.",
    )
    allowed_engines: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Engines a probe may ask for besides the default (empty: the default "
        "engine only). Comma-separated.",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Bearer keys; empty = no auth. Comma-separated."
    )
    metrics_public: bool = Field(True, description="Serve /metrics without an API key.")
    max_upload_bytes: int = Field(512 * 1024 * 1024, ge=1, description="Largest upload.")
    max_rows: int = Field(1_000_000, ge=1, description="Most rows in one dataset.")
    max_text_chars: int = Field(20_000, ge=1, description="Longest question or answer.")
    upload_in_process_bytes: int = Field(
        8 * 1024 * 1024, ge=0,
        description="Uploads up to this size are read in the API process; larger ones in a "
                    "child process, so reading them never slows other requests.")
    max_columns: int = Field(1000, ge=1, description="Most columns in one dataset.")
    max_nesting_depth: int = Field(
        32, ge=1, le=32, description="Deepest nesting of lists and objects in any value "
        "(Parquet readers stop near 50 levels of lists, so 32 is also the most allowed).")
    shard_size: int = Field(32, ge=1, le=100_000, description="Rows per checkpointed shard.")
    max_listed_errors: int = Field(
        1000, ge=1, description="Most row errors stored and returned per dataset."
    )
    sse_heartbeat_s: float = Field(15.0, gt=0, description="Seconds between SSE heartbeats.")
    progress_interval_s: float = Field(
        0.5, ge=0, description="Least seconds between progress updates from the worker."
    )
    shutdown_grace_s: float = Field(
        5.0, ge=0, description="Seconds the worker gets to exit on shutdown before a kill."
    )
    log_json: bool = Field(False, description="Log one JSON object per line.")
    log_level: str = Field("INFO", description="Logging level.")
    executor: Literal["local", "ray"] = Field(
        "local", description="Where probing runs: 'local' (the worker's engine) or 'ray' "
        "(shards over a Ray cluster's actors, each holding one engine).")
    ray_address: str | None = Field(
        None, description="Ray cluster for executor=ray ('auto', 'head:6379', "
        "'ray://head:10001'); unset starts a local Ray instance.")
    ray_workers: int = Field(
        0, ge=0, description="Engine actors for executor=ray; 0 = one per GPU in the cluster.")
    ray_gpus_per_worker: float = Field(
        1.0, ge=0, description="GPUs each Ray engine actor reserves (0 for CPU actors).")

    def probe_engines(self) -> list[str]:
        """The engines a probe may ask for: the default and SLICK_ALLOWED_ENGINES."""
        return sorted({self.engine, *self.allowed_engines})

    def probe_models(self) -> list[str]:
        """The models a probe may ask for: the default and SLICK_ALLOWED_MODELS."""
        return sorted({self.model, *self.allowed_models})

    @field_validator("api_keys", "allowed_models", "allowed_engines", mode="before")
    @classmethod
    def _split_keys(cls, value):
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [k.strip() for k in value.split(",") if k.strip()]
        return value
