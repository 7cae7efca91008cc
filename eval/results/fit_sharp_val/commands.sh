#!/bin/bash
# issue 16: the clip-mean reference + LPIPS/GAN stage candidate, decided on validation clips (RULE.md)
cd "$(dirname "$0")/../../.."  # the repository root; GRID=../shared/data/grid on the machine that ran it
GRID=${FACEKIT_GRID:-../shared/data/grid}
facekit() { .venv/bin/facekit "$@"; }
# 136.5 min on 2 CPU cores (the run read its recipe from a copy in runs/, identical to recipe.json)
facekit fit --videos $GRID --aligns $GRID --out runs/fit-sharp-val --hours 2.3 \
    --recipe eval/results/fit_sharp_val/recipe.json --set data.val_fraction=0.1
# the 4-dub checkpoint (before the LPIPS/GAN stage) on the same validation clips: stage_4dub_val/
R=runs/fit-sharp-val
facekit eval --checkpoint $R/generator/4-dub/last.pt --data $R/data --expert $R/judge/last.pt --split val \
    --out-dir runs/fit-sharp-val-4dub/val/held_out
.venv/bin/python eval/cross_dub.py --checkpoint $R/generator/4-dub/last.pt --data $R/data --expert $R/judge/last.pt \
    --split val --out-dir runs/fit-sharp-val-4dub/val/cross_dub
# held-out open mouths: the shipped grid-s1 beside the candidate
.venv/bin/python eval/open_mouth_crops.py --data $R/data --checkpoint shipped=grid-s1 \
    --checkpoint candidate=$R/generator/5-sharp/last.pt --frames 6 --out eval/results/fit_sharp_val/open_mouths.png
