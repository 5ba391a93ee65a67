"""`slick serve`: run the HTTP service. Flags override SLICK_ environment settings."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--host", default=None, help="Address to bind. [SLICK_HOST, 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port to bind. [SLICK_PORT, 8000]")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Uploads, job store and results. [SLICK_DATA_DIR, ./slick-data]")
@click.option("--model", default=None, help="Default model. [SLICK_MODEL, smollm2-135m]")
@click.option("--engine", type=click.Choice(["transformers", "vllm", "openai", "fake"]), default=None,
              help="Default engine ('fake' is scripted, for tests). [SLICK_ENGINE, transformers]")
@click.option("--device", default=None, help="Torch device for transformers. [SLICK_DEVICE]")
@click.option("--engine-options", default=None,
              help="JSON object of engine options. [SLICK_ENGINE_OPTIONS]")
@click.option("--shard-size", type=int, default=None,
              help="Rows per checkpointed shard of new jobs. [SLICK_SHARD_SIZE, 32]")
@click.option("--api-key", "api_keys", multiple=True,
              help="Require this bearer key on /v1 (repeatable). [SLICK_API_KEYS]")
@click.option("--log-json/--no-log-json", default=None, help="One JSON object per log line.")
@click.option("--log-level", default=None, help="Logging level. [SLICK_LOG_LEVEL, INFO]")
def serve(host, port, data_dir, model, engine, device, engine_options, shard_size, api_keys,
          log_json, log_level) -> None:
    """Serve the SliCK curation API (datasets in, durable probe jobs, Parquet out)."""
    from pydantic import ValidationError

    from slick_curator.settings import Settings

    overrides = {
        "host": host, "port": port, "data_dir": data_dir, "model": model, "engine": engine,
        "device": device, "shard_size": shard_size, "log_json": log_json, "log_level": log_level,
        "api_keys": list(api_keys) or None,
    }
    if engine_options is not None:
        try:
            overrides["engine_options"] = json.loads(engine_options)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--engine-options") from exc
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise click.UsageError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc

    import uvicorn

    from slick_curator.app import create_app
    from slick_curator.logs import configure_logging

    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    # log_config=None: uvicorn's records go through our (text or JSON) handler.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                timeout_graceful_shutdown=10)
