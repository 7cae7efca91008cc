#!/bin/bash
# Issue 15 lever, stop 24: does a sync loss averaged over two training experts carry over to the judge?
# From the repository root, with the `fit` run of `eval/results/fit_grid_s1` in runs/fit-grid-s1 (data, experts, 4-dub).

# a second training expert: the fit recipe's expert with train.seed=2 (the judge is seed 1). Its 20-minute cap stopped
# it at step 1392 on the busy machine; resumed with train.max_minutes=30 to the recipe's 1500 steps
facekit train expert --run-dir runs/x15/expert-seed2 --data runs/fit-grid-s1/data --set data.image_size=96 \
    --set data.mouth_size=48 --set data.split_by=sentence --set model.expert_loss=infonce --set train.batch_size=64 \
    --set train.lr=5e-4 --set train.steps=1500 --set train.max_minutes=20 --set train.log_every=50 --set train.seed=2

# two fine-tunes of 4-dub (step 14,250), 2000 steps each, same start, seed, data and stage-4 settings; side by side,
# one thread each. Their configs differ from 4-dub's only in init_from, seed, steps and max_minutes (checked).
COMMON="--data runs/fit-grid-s1/data --set data.num_frames=5 --set model.cascade.order=text,audio \
  --set train.batch_size=4 --set train.ssim_weight=1.0 --set train.log_every=50 --set train.checkpoint_every=500 \
  --set data.still_face_prob=0.5 --set data.other_reference_prob=0.5 --set data.image_size=96 --set data.mouth_size=48 \
  --set data.split_by=sentence --set train.lr=1e-4 --set train.sync_weight=0.1 --set train.seed=4 \
  --set data.other_face_prob=0.5 --set train.init_from=runs/fit-grid-s1/generator/4-dub/last.pt --set train.steps=2000"
E0=runs/fit-grid-s1/expert/last.pt
E2=runs/x15/expert-seed2/last.pt
OMP_NUM_THREADS=1 facekit train generator --run-dir runs/x15/ft-two-experts --expert $E0 --expert $E2 $COMMON &
OMP_NUM_THREADS=1 facekit train generator --run-dir runs/x15/ft-one-expert --expert $E0 $COMMON &
wait

# cross-dub under the judge (the fit run's judge, seed 1, never used in training), the 10 pairs of the card
for r in ft-two-experts ft-one-expert; do
  python eval/cross_dub.py --checkpoint runs/x15/$r/last.pt --data runs/fit-grid-s1/data \
      --expert runs/fit-grid-s1/judge/last.pt --out-dir runs/x15/$r/cross_dub --eval-name eval_judge
done
python eval/compare_cross_dub.py "start (fit, 4-dub)=eval/results/fit_grid_s1/cross_dub_judge/per_clip.csv" \
    "+2000 steps, one expert=eval/results/fit_two_experts/ft-one-expert/cross_dub_judge_per_clip.csv" \
    "+2000 steps, two experts=eval/results/fit_two_experts/ft-two-experts/cross_dub_judge_per_clip.csv" \
    > eval/results/fit_two_experts/summary.md

# the same on the first 30 held-out sentences (the 10 above and 20 more; the last pair wraps to another face), all
# three generators made again and scored under the judge
for r in start:runs/fit-grid-s1/generator/4-dub/last.pt one:runs/x15/ft-one-expert/last.pt two:runs/x15/ft-two-experts/last.pt; do
  python eval/cross_dub.py --checkpoint ${r#*:} --data runs/fit-grid-s1/data --expert runs/fit-grid-s1/judge/last.pt \
      --out-dir runs/x15/cd30-${r%%:*} --pairs 30 --eval-name eval_judge
done   # their per_clip.csv copied to pairs30/<name>-per_clip.csv
P=eval/results/fit_two_experts/pairs30
python eval/compare_cross_dub.py "start (fit, 4-dub)=$P/start-per_clip.csv" "+2000 steps, one expert=$P/one-per_clip.csv" \
    "+2000 steps, two experts=$P/two-per_clip.csv" > eval/results/fit_two_experts/summary_30_pairs.md
