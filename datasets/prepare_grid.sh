#!/usr/bin/env bash
# Prepare the GRID subset (speaker s1 + the multi/ clips) as facekit clips.
#   datasets/prepare_grid.sh [GRID_DIR] [OUT_DIR] [extra facekit options, e.g. --image-size 128 --workers 2]
# GRID_DIR holds the videos and the .align files (searched recursively, matched by file stem): your GRID download
# (docs/GRID.md); default $FACEKIT_GRID. OUT_DIR default data/grid-s1. Re-running resumes: finished clips are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
GRID_DIR=${1:-${FACEKIT_GRID:-}}
if [ -z "$GRID_DIR" ]; then
    echo "prepare_grid.sh: no GRID folder; give it as the first argument or set FACEKIT_GRID (see docs/GRID.md)" >&2
    exit 2
fi
OUT_DIR=${2:-data/grid-s1}
shift $(( $# > 2 ? 2 : $# ))
BIN=${BIN:-.venv/bin}

"$BIN/python" -c "import dlib, face_recognition_models" 2>/dev/null || "$BIN/pip" install -e ".[faces]"
"$BIN/facekit" prepare grid --videos "$GRID_DIR" --aligns "$GRID_DIR" --out "$OUT_DIR" --workers 1 "$@"
echo "summary: $OUT_DIR/summary.json   manifest: $OUT_DIR/manifest.json"
