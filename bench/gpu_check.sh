#!/usr/bin/env bash
# The real-GPU tier on a machine with a GPU and perhaps no network (issue 30): a venv from the wheels in
# WHEELHOUSE, then `make test-gpu` (read-only: it never changes MIG mode or any GPU setting). Under 5 minutes.
#
# Make the wheelhouse on a machine with the index:  pip wheel -w WHEELHOUSE '.[test]'
# Then, on the GPU machine, from a copy of this checkout:  bench/gpu_check.sh WHEELHOUSE
set -euo pipefail
wheels=$(realpath "${1:?usage: bench/gpu_check.sh WHEELHOUSE}")
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null && nvidia-smi -L || echo "gpu_check: no nvidia-smi on PATH" >&2
export PIP_NO_INDEX=1 PIP_FIND_LINKS="$wheels" PIP_DISABLE_PIP_VERSION_CHECK=1
time make test-gpu VENV=.venv-gpu
