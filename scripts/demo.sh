#!/usr/bin/env bash
# The README's main job (`make demo`): colorize a real black-and-white film clip offline and write a
# before/after contact sheet.
#
#   scripts/demo.sh [DATA_DIR] [OUT_DIR]      (defaults: ../shared/data, out)
#
# Needs the package installed (`make demo` does it in .venv and puts .venv/bin on PATH). The model is
# `vs-colorize colorize`'s default: DeOldify's video model when its weights are installed
# (`vs-colorize-export deoldify video`), otherwise the demo model shipped in the package
# (vs_colorize/assets/demo-fp32.onnx, see vs_colorize/assets/MODEL_CARD.md); the log says which.
# Reruns replace the demo's own outputs.
set -euo pipefail

DATA_DIR=${1:-../shared/data}
OUT_DIR=${2:-out}
CLIP="$DATA_DIR/bw_film_clips/a-bomb_blast_effects_part.mp4"
VIDEO="$OUT_DIR/a-bomb_colorized.mkv"
SHEET="$OUT_DIR/a-bomb_contact_sheet.png"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${PYTHON:-python}

if [[ ! -f "$CLIP" ]]; then
  echo "demo.sh: DATA_DIR must hold bw_film_clips/a-bomb_blast_effects_part.mp4, not found: $CLIP" >&2
  exit 2
fi
mkdir -p "$OUT_DIR"

vs-colorize models >&2
vs-colorize colorize "$CLIP" "$VIDEO" --overwrite
"$PYTHON" "$HERE/contact_sheet.py" "$CLIP" "$VIDEO" "$SHEET" --frames 4 --overwrite
echo "demo.sh: wrote $VIDEO and $SHEET" >&2
