#!/usr/bin/env bash
# The README's main job (`make demo`): colorize a real black-and-white film clip offline and write a
# before/after contact sheet.
#
#   scripts/demo.sh [CLIP] [OUT_DIR]      (defaults: scripts/samples/a-bomb_blast_effects_part.mp4, out)
#
# The clip ships with the repository (public domain, see scripts/samples/SOURCES.md), so a bare clone runs it.
# Needs the package installed (`make demo` does it in .venv and puts .venv/bin on PATH). The model is
# `vs-colorize colorize`'s default: DeOldify's video model when its weights are installed
# (`vs-colorize-export deoldify video`), otherwise the demo model shipped in the package
# (vs_colorize/assets/demo-fp32.onnx, see vs_colorize/assets/MODEL_CARD.md); the log says which.
# Reruns replace the demo's own outputs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CLIP=${1:-$HERE/samples/a-bomb_blast_effects_part.mp4}
OUT_DIR=${2:-out}
NAME=$(basename "${CLIP%.*}")
VIDEO="$OUT_DIR/${NAME}_colorized.mkv"
SHEET="$OUT_DIR/${NAME}_contact_sheet.png"

if [[ ! -f "$CLIP" ]]; then
  echo "demo.sh: CLIP not found: $CLIP" >&2
  exit 2
fi
mkdir -p "$OUT_DIR"

vs-colorize models >&2
vs-colorize colorize "$CLIP" "$VIDEO" --overwrite
vs-colorize sheet "$CLIP" "$VIDEO" "$SHEET" --frames 4 --overwrite
echo "demo.sh: wrote $VIDEO and $SHEET" >&2
