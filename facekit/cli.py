"""The ``facekit`` command (also ``python -m facekit``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from facekit.config import PRESETS, Config, ConfigError, apply_overrides, get_preset


def _config(args: argparse.Namespace) -> Config:
    return apply_overrides(get_preset(args.preset), args.set or [])


def _add_config_args(p: argparse.ArgumentParser, preset: str) -> None:
    p.add_argument("--preset", default=preset, choices=sorted(PRESETS), help=f"config preset (default {preset})")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="dotted config override, e.g. synth.num_identities=20",
    )


def cmd_config(args: argparse.Namespace) -> int:
    print(_config(args).to_json())
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from facekit.data.synthetic.browse import synthesise_and_show

    summary = synthesise_and_show(_config(args), args.out, args.show, args.workers)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    if args.from_scratch:
        from facekit.demo import run_demo

        run_demo(args.out, overrides=args.set, cache=args.cache, retrain=args.retrain, workers=args.workers)
        return 0
    flags = {"--cache": args.cache, "--retrain": args.retrain, "--set": args.set}
    given = [flag for flag, value in flags.items() if value]
    if given:
        raise ConfigError(f"{', '.join(given)}: only for `facekit demo --from-scratch` (the demo that trains); "
                          "`facekit demo` uses the shipped models")  # fmt: skip
    from facekit.demo_real import run_real_demo

    run_real_demo(args.out, training_expert=args.training_expert, workers=args.workers)
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from facekit.data.synthetic.corpus import generate_corpus
    from facekit.train.loop import init_distributed, train_expert, train_generator, world

    cfg = _config(args)
    init_distributed()
    if world()[1] > 1 and not args.data:
        raise ConfigError("a torchrun job needs --data (prepare or synthesise the clips once, before launching)")
    data = Path(args.data) if args.data else Path("data") / f"synthetic-{cfg.name}-seed{cfg.synth.seed}"
    if not args.data:
        print(f"facekit train: no --data given; using the synthetic corpus in {data}/")
        generate_corpus(cfg, data, workers=args.workers)
    run_dir = Path(args.run_dir)
    start = time.perf_counter()
    if args.what == "expert":
        record = train_expert(cfg, data, run_dir)
    else:
        record = train_generator(cfg, data, run_dir, expert_path=args.expert)
    record["wall_seconds"] = round(time.perf_counter() - start, 1)
    if world()[0] == 0:
        print(json.dumps(record, indent=2))
        print(f"checkpoint: {run_dir / 'last.pt'}   log: {run_dir / 'log.jsonl'}")
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from facekit.fit import fit, load_recipe

    if args.hours <= 0:
        raise ConfigError(f"--hours {args.hours:g}: give the wall-clock budget in hours, e.g. --hours 2.5")
    for flag, folder in (("--videos", args.videos), ("--aligns", args.aligns), ("--data", args.data)):
        if folder and not Path(folder).is_dir():
            raise ConfigError(f"{flag} {folder}: no such folder")
    if args.aligns and not args.videos:
        raise ConfigError("--aligns goes with --videos (the GRID videos whose .align files it holds)")
    fit(
        args.out,
        args.hours,
        videos=args.videos,
        aligns=args.aligns,
        data=args.data,
        recipe=load_recipe(args.recipe),
        extra=args.set or [],
        workers=args.workers,
        command=" ".join(["facekit", *args.argv]),
    )
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from facekit.metrics.lpips import LPIPSWeightsError, fetch_lpips_weights, verify_lpips_weights

    try:
        path = fetch_lpips_weights(args.cache, verbose=True)
    except LPIPSWeightsError as exc:
        print(f"facekit weights {args.what}: error: {exc}", file=sys.stderr)
        return 2
    info = verify_lpips_weights(path)
    print(f"{path}\nsha256 {info['sha256']}\nsource {info['source']}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from facekit.data.grid import find_videos, prepare_grid
    from facekit.data.prepare import prepare_folder
    from facekit.data.transcripts import find_transcript

    if args.kind == "grid":
        aligns = args.aligns or args.videos
        summary = prepare_grid(args.videos, args.out, aligns, args.image_size, args.workers, not args.quiet)
    else:
        videos = find_videos(args.videos, (".mp4", ".mpg", ".mpeg"))
        transcripts = {str(v): find_transcript(v) for v in videos}
        summary = prepare_folder(
            videos, args.out, args.image_size, transcripts, args.workers, not args.quiet, identity_rule=args.identity
        )
    if summary["prepared"] and args.sheet > 0:
        summary["contact_sheet"] = str(prepared_contact_sheet(Path(args.out), args.sheet))
    print(json.dumps(summary, indent=2))
    reasons = ", ".join(f"{count} {kind}" for kind, count in summary["skipped_by_reason"].items())
    print(
        f"\nprepared {summary['prepared']} clips ({summary['new']} new, {summary['resumed']} from an earlier run) of "
        f"{summary['identities']} identities (rule: {summary['identity_rule']}), skipped {len(summary['skipped'])}"
        f"{f' ({reasons})' if reasons else ''}, {len(summary['warnings'])} with warnings; "
        f"{summary['seconds_per_clip'] or '-'} s per clip -> {args.out}/manifest.json"
    )
    if summary["identities"] == 1 and summary["prepared"] > 1 and args.kind == "folder":
        print(
            f"note: all {summary['prepared']} clips are one identity (rule: {summary['identity_rule']}); if they show "
            "several people, pass --identity file or --identity regex:PATTERN so that splits by identity hold"
        )
    if not summary["prepared"]:
        print(f"facekit prepare: error: prepared nothing of {summary['videos']} videos (see skipped)", file=sys.stderr)
        return 1
    return 0


def prepared_contact_sheet(root: Path, count: int) -> Path:
    """``root/contact_sheet.png``: ``count`` clips spread over the prepared set (crops with mouth landmarks, the
    mouthless face, the mouth modality, the log-mel with the lip gap) -- for a person to look at."""
    from facekit.data.clips import load_clip, read_manifest
    from facekit.viz import contact_sheet

    _, infos = read_manifest(root)
    picks = [infos[i] for i in sorted({round(i * (len(infos) - 1) / max(count - 1, 1)) for i in range(count)})]
    return contact_sheet([load_clip(root, info) for info in picks], root / "contact_sheet.png")


def cmd_eval(args: argparse.Namespace) -> int:
    folders, checkpoint = bool(args.generated or args.ground_truth), bool(args.checkpoint or args.data)
    if folders == checkpoint or (folders and not (args.generated and args.ground_truth)) or \
            (checkpoint and not (args.checkpoint and args.data)):  # fmt: skip
        raise ConfigError("facekit eval takes either --generated DIR --ground-truth DIR (two folders of videos) or "
                          "--checkpoint FILE --data DIR (a generator on prepared clips)")  # fmt: skip
    if checkpoint and (args.syncnet or args.aligned):
        raise ConfigError("--syncnet and --aligned apply to the folder mode (--generated / --ground-truth)")
    if folders and args.still_face:
        raise ConfigError("--still-face applies to the checkpoint mode (--checkpoint / --data)")
    if args.no_face_check and not (folders and args.aligned):
        raise ConfigError("--no-face-check applies to --aligned crops in the folder mode (elsewhere dlib finds faces)")
    if folders:
        from facekit.benchmark import BenchmarkOptions, run_benchmark
        from facekit.metrics.syncnet_official import OfficialWeightsError

        options = BenchmarkOptions(aligned=args.aligned, image_size=args.image_size, max_trim_frames=args.max_trim,
                                   allow_expert_overlap=args.allow_expert_overlap,
                                   face_check=not args.no_face_check)  # fmt: skip
        try:
            result = run_benchmark(args.generated, args.ground_truth, args.expert, args.syncnet, options, progress=True)
        except OfficialWeightsError as exc:
            print(f"facekit eval: error: {exc}", file=sys.stderr)
            return 2
    else:
        from facekit.evaluation import evaluate_generator

        details = args.out_dir is not None  # curves and sample frames for the report
        result = evaluate_generator(
            args.checkpoint,
            args.data,
            args.expert,
            args.split,
            args.max_clips,
            still_face=args.still_face,
            details=details,
            allow_expert_overlap=args.allow_expert_overlap,
        )
    result["command"] = " ".join(["facekit", *args.argv])
    if args.out_dir:
        from facekit.report import write_outputs

        paths = write_outputs(result, args.out_dir)
        print(f"report: {paths['report']}  JSON: {paths['json']}  CSV: {paths['per_clip_csv']} {paths['summary_csv']}")
    if args.out:
        from facekit.report import jsonable

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(jsonable(result), indent=2) + "\n")
    print(json.dumps({"clips": result["clips"], "summary": result["summary"]}, indent=2))
    for skip in result.get("skipped", []):
        print(f"skipped {skip['clip']}: {skip['reason']}", file=sys.stderr)
    for note in result.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    for warning in result.get("warnings", []):
        print(f"facekit eval: warning: {warning}", file=sys.stderr)
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from facekit.generate import GenerateError, generate

    drop = [m.strip() for m in args.drop.split(",") if m.strip()] if args.drop else []
    try:
        summary = generate(
            args.checkpoint,
            args.face,
            audio=args.audio,
            text=args.text,
            align=args.align,
            mouth=args.mouth,
            out=args.out,
            aligned=args.aligned,
            drop=drop,
            batch_size=args.batch_size,
            device=args.device,
        )
    except GenerateError as exc:
        print(f"facekit generate: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from facekit.zoo import export_model, zoo_dir

    card = export_model(args.checkpoint, args.name, args.card_notes, args.force)
    folder = zoo_dir() / args.name
    print(f"{args.name}: {card['description']}")
    print(f"{folder / 'weights.pt'} ({card['size_bytes'] / 2**20:.2f} MB, sha256 {card['sha256']})")
    print(f"card: {folder / 'card.json'}, {folder / 'MODEL.md'}; use it as --checkpoint/--expert {args.name}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from facekit.zoo import list_models

    print("\n".join(list_models()))
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from facekit.ablation import ablation_inputs, load_protocol, run_ablation

    start = time.perf_counter()
    try:
        protocol = load_protocol(args.protocol, seeds=args.seeds, steps=args.steps)
        data, expert, eval_expert = ablation_inputs(
            protocol, args.out, args.data, args.expert, args.eval_expert, args.workers
        )
        cells = args.cells.split(",") if args.cells else None
        result = run_ablation(protocol, data, args.out, expert, eval_expert, cells)
    except ValueError as exc:  # a bad protocol, unknown cells, a finished run made with another config
        print(f"facekit ablate: error: {exc}", file=sys.stderr)
        return 2
    out, budget = Path(args.out), result["budget"]
    flagged = ", ".join(result["flagged"]) or "none"
    print(f"\nCells not above both trivial baselines (flagged): {flagged}")
    print(f"{(time.perf_counter() - start) / 60:.1f} min; {budget['total_cpu_h']} CPU h in all ({out / 'budget.json'})")
    print(f"Table with CIs and verdicts: {out / 'table.md'}  plots: {out / 'plots'}/")
    return 0


# Worked examples at the end of each subcommand's --help (GRID/ is your GRID download: docs/GRID.md)
EXAMPLES = {
    "demo": """
  facekit demo                                  the real-face job with the shipped GRID models (about a minute)
  facekit demo --out my-demo
  facekit demo --from-scratch                   synthesise, train and score a cartoon-face model (minutes)""",
    "synth": """
  facekit synth --out data/synth-tiny --preset tiny --show 4
  facekit synth --out data/synth-cpu --set synth.num_identities=100""",
    "train": """
  facekit train expert --run-dir runs/expert-grid --data data/grid-s1 --set data.split_by=sentence \\
      --set model.expert_loss=infonce --set train.batch_size=64 --set train.lr=5e-4 --set train.steps=1500
  facekit train generator --run-dir runs/gen-grid --data data/grid-s1 --expert grid-s1-expert \\
      --set data.num_frames=5 --set data.split_by=sentence --set model.cascade.order=text,audio \\
      --set train.batch_size=4 --set train.ssim_weight=1 --set train.max_minutes=30
  facekit train generator --run-dir runs/gen-tiny --preset tiny      (the synthetic corpus, made if missing)""",
    "fit": """
  facekit fit --videos GRID/s1/video --aligns GRID/s1/align --out runs/fit-grid-s1 --hours 2.5
  facekit fit --videos my_videos/ --out runs/me --hours 3      (a <stem>.txt transcript beside each video helps)
  facekit fit --data data/grid-s1 --out runs/fit-grid-s1       (clips prepared before)
then:
  facekit generate --checkpoint runs/me/generator/4-dub/last.pt --face face.mp4 --audio speech.wav --out out.mp4
  facekit export --checkpoint runs/me/generator/4-dub/last.pt --name me    (a compact shipped copy)""",
    "weights": """
  facekit weights lpips
  FACEKIT_CACHE=/data/cache facekit weights lpips""",
    "prepare": """
  facekit prepare grid --videos GRID/s1/video --aligns GRID/s1/align --out data/grid-s1
  facekit prepare folder --videos my_videos/ --out data/mine --identity file --workers 2""",
    "eval": """
  facekit eval --checkpoint grid-s1 --data data/grid-s1 --expert grid-s1-judge --out-dir runs/eval-grid-s1
  facekit eval --checkpoint grid-s1 --data data/grid-s1 --expert grid-s1-judge --still-face --max-clips 10
  facekit eval --generated my_dubs/ --ground-truth real/ --expert grid-s1-judge --out-dir runs/eval-dubs""",
    "generate": """
  facekit generate --checkpoint grid-s1 --face GRID/s1/video/bbbmzn.mpg --audio GRID/s1/video/pgak2n.mpg \\
      --align GRID/s1/align/pgak2n.align --out dub.mp4
  facekit generate --checkpoint grid-s1 --face face.png --audio speech.wav --text "place green at k two now" \\
      --out still.mp4""",
    "ablate": """
  facekit ablate --protocol eval/protocols/ablation_synthetic.json --out runs/ablation
  facekit ablate --cells order_text_audio_mouth,order_mouth_audio_text --seeds 2 --steps 300 --out runs/small""",
    "models": """
  facekit models
  FACEKIT_ZOO=/data/my-zoo facekit models""",
    "export": """
  facekit export --checkpoint runs/fit-grid-s1/generator/4-dub/last.pt --name my-grid-model
  facekit export --checkpoint runs/expert/last.pt --name my-expert --card-notes '{"data_source": "grid"}'""",
    "config": """
  facekit config --preset cpu
  facekit config --preset tiny --set model.cascade.order=audio,text --set train.steps=50""",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facekit", description="Multimodal lip-sync face generation.")
    sub = parser.add_subparsers(dest="command", required=True)
    workers = min(2, os.cpu_count() or 1)

    p = sub.add_parser(
        "demo", help="the main job: the shipped GRID generator dubs 3 real clips it never saw (about a minute)"
    )
    p.add_argument("--out", default="facekit-demo", help="output folder (default ./facekit-demo): report.html, ...")
    p.add_argument("--training-expert", action="store_true",
                   help="also score the dubs with grid-s1-expert, an expert grid-s1 trained against")  # fmt: skip
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="instead: synthesise a corpus, train (or reuse) a small model on it, generate, evaluate",
    )
    p.add_argument("--cache", help="--from-scratch: where trained models are kept (default $FACEKIT_CACHE/demo)")
    p.add_argument("--retrain", action="store_true", help="--from-scratch: train anew instead of reusing the cache")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="--from-scratch: dotted config override")
    p.add_argument("--workers", type=int, default=workers, help=f"--from-scratch: processes (default {workers})")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("synth", help="write the synthetic corpus (prepared clips) and browsable samples")
    p.add_argument("--out", required=True, help="output folder: corpus/, browse/, summary.json")
    p.add_argument("--show", type=int, default=4, help="clips to write as mp4 + contact sheet (default 4)")
    p.add_argument("--workers", type=int, default=workers, help=f"processes (default {workers})")
    _add_config_args(p, "cpu")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("train", help="train the sync expert or the generator (resumes an existing run folder)")
    p.add_argument("what", choices=["expert", "generator"], help="expert (the sync expert) or generator")
    p.add_argument("--run-dir", required=True, help="run folder: config.json, log.jsonl, last.pt")
    p.add_argument("--data", help="prepared clips (default: the synthetic corpus of the config, made if missing)")
    p.add_argument(
        "--expert",
        action="append",
        help="sync-expert checkpoint (or shipped model name) for the sync "
        "loss; give it again for several experts, whose losses are averaged",
    )
    p.add_argument("--workers", type=int, default=workers, help="processes for making the corpus")
    _add_config_args(p, "cpu")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "fit",
        help="one person's videos -> sync expert -> lip-sync generator, one resumable run with a model card",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--videos", help="folder of one person's videos (prepared into OUT/data; needs dlib)")
    source.add_argument("--data", help="already prepared clips (facekit prepare), instead of --videos")
    p.add_argument("--aligns", help="GRID: folder of .align transcripts for --videos (else <stem>.txt beside each)")
    p.add_argument("--out", required=True, help="run folder; re-running the same command resumes it")
    p.add_argument("--hours", type=float, default=2.5, help="wall-clock budget for the whole run (default 2.5)")
    p.add_argument("--recipe", default="one_person", help="recipe name or JSON file (default one_person)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="dotted config override for every stage")
    p.add_argument("--workers", type=int, default=workers, help=f"processes for preparing videos (default {workers})")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("weights", help="fetch pretrained weights once into the cache (lpips: the AlexNet backbone)")
    p.add_argument("what", choices=["lpips"], help="lpips: the AlexNet backbone of LPIPS (v0.1)")
    p.add_argument("--cache", help="cache folder (default $FACEKIT_CACHE or ~/.cache/facekit)")
    p.set_defaults(func=cmd_weights)

    p = sub.add_parser("prepare", help="real video -> prepared clips (needs the faces extra: dlib)")
    kinds = p.add_subparsers(dest="kind", required=True, help="grid or folder")
    for kind, text in (
        ("grid", "GRID corpus: a folder of videos + a folder of .align files matched by name"),
        ("folder", "any folder of *.mp4 / *.mpg (LRS2-style); transcripts <stem>.align / .txt beside them: optional"),
    ):
        q = kinds.add_parser(kind, help=text, epilog="examples:" + EXAMPLES["prepare"])
        q.formatter_class = argparse.RawDescriptionHelpFormatter
        q.add_argument("--videos", required=True, help="folder of videos (searched recursively)")
        if kind == "grid":
            q.add_argument("--aligns", help="folder of .align files (searched recursively; default: --videos)")
        else:
            q.add_argument(
                "--identity",
                default="folder",
                help="who each clip shows: folder (the parent folder's name; default), file (one identity per video) "
                "or regex:PATTERN (its one group, searched in the file stem, e.g. 'regex:^(id\\d+)_')",
            )
        q.add_argument("--out", required=True, help="output folder: clips/, manifest.json, summary.json")
        q.add_argument("--image-size", type=int, default=96, help="face crop side: 96 (default), 128 or 256")
        q.add_argument("--workers", type=int, default=1, help="processes (default 1)")
        q.add_argument("--quiet", action="store_true", help="no progress bar")
        q.add_argument("--sheet", type=int, default=6, help="clips in OUT/contact_sheet.png (default 6; 0: none)")
        q.set_defaults(func=cmd_prepare)

    p = sub.add_parser(
        "eval",
        help="score generated videos against ground truth (two folders), or a generator checkpoint on prepared clips",
    )
    p.add_argument("--generated", help="folder of generated videos (matched to --ground-truth by file name)")
    p.add_argument("--ground-truth", help="folder of ground-truth videos")
    p.add_argument("--checkpoint", help="generator checkpoint (last.pt of a run) or shipped model name, with --data")
    p.add_argument("--data", help="prepared clips, with --checkpoint")
    p.add_argument("--expert", help="sync-expert checkpoint or shipped model name, for LSE-D / LSE-C / offset")
    p.add_argument(
        "--allow-expert-overlap",
        action="store_true",
        help="score even with an expert that trained on some of the scored clips (the result's first line says so)",
    )
    p.add_argument("--syncnet", help="folders: the official syncnet_v2.model for paper-comparable LSE-D / LSE-C")
    p.add_argument("--aligned", action="store_true", help="folders: the videos already are aligned face crops")
    no_check = "--aligned: rendered faces dlib cannot find; no LMD, and a faceless video is scored (a warning)"
    p.add_argument("--no-face-check", action="store_true", help=no_check)
    p.add_argument("--image-size", type=int, help="folders: crop side (default 96, or the crops' own with --aligned)")
    p.add_argument("--max-trim", type=int, default=12, help="folders: frames two lengths may differ by (default 12)")
    p.add_argument(
        "--split",
        default="eval",
        choices=["train", "eval", "val", "all"],
        help="checkpoint mode: which clips of its recorded split (default eval: the held-out ones; val: those taken "
        "out of training by data.val_fraction, to choose settings on)",
    )
    p.add_argument("--max-clips", type=int, help="score only the first N clips of the split")
    p.add_argument(
        "--still-face",
        action="store_true",
        help="checkpoint mode: animate each clip's reference frame, not its own video (the mouth from speech only)",
    )
    p.add_argument("--out", help="write the full JSON (per clip + summary) here")
    p.add_argument("--out-dir", help="write report.md (+ figures/), results.json, per_clip.csv, summary.csv here")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("generate", help="a checkpoint + a face + speech -> a lip-synced mp4 with the audio")
    p.add_argument("--checkpoint", required=True, help="generator checkpoint (last.pt of a run) or shipped model name")
    p.add_argument("--face", required=True, help="face image (repeated) or video (looped back and forth)")
    p.add_argument("--audio", help="speech: any audio or video file with sound; sets the video's length")
    text = p.add_mutually_exclusive_group()
    text.add_argument("--text", help="the sentence said in --audio (aligned approximately to its speech)")
    text.add_argument("--align", help="time-aligned transcript (GRID .align)")
    p.add_argument("--mouth", help="mouth images: a driver video, a folder of images or a .npy (T, M, M, 3)")
    p.add_argument("--out", required=True, help="output mp4")
    p.add_argument("--aligned", action="store_true", help="--face already is an aligned face crop of the model's size")
    p.add_argument("--drop", help="modalities of the checkpoint to leave out (comma-separated; zero data feature)")
    p.add_argument("--batch-size", type=int, default=16, help="frames per model call (default 16)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("ablate", help="the ablation study: every cell x seed, paired CIs and verdicts (facekit.stats)")
    p.add_argument(
        "--protocol", help="protocol JSON (default: the built-in one, eval/protocols/ablation_synthetic.json)"
    )
    p.add_argument("--out", default="runs/ablation", help="output folder; a re-run skips finished runs")
    p.add_argument("--data", help="prepared clips (default: the synthetic corpus of the protocol's preset)")
    p.add_argument("--expert", help="sync expert whose loss trains the generators (default: the protocol's)")
    p.add_argument("--eval-expert", help="independent sync expert that judges sync (default: the protocol's)")
    p.add_argument("--cells", help="comma-separated subset of the protocol's cells")
    p.add_argument("--seeds", type=int, help="override: seeds 0..N-1")
    p.add_argument("--steps", type=int, help="override: the training budget per run, in steps")
    p.add_argument("--workers", type=int, default=workers, help="processes for making the corpus")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("models", help="list the shipped models (use one by name: --checkpoint NAME, --expert NAME)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("export", help="a run's checkpoint -> a compact shipped model (fp16) with its model card")
    p.add_argument("--checkpoint", required=True, help="the run's last.pt (its eval.json and log.jsonl feed the card)")
    p.add_argument("--name", required=True, help="the name to load it by, e.g. grid-s1-expert")
    p.add_argument("--card-notes", help="JSON object: figures, description, data_source, licence, notes for the card")
    p.add_argument("--force", action="store_true", help="replace a shipped model of the same name")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("config", help="print the resolved config as JSON")
    _add_config_args(p, "cpu")
    p.set_defaults(func=cmd_config)
    for name, command in sub.choices.items():
        command.epilog = "examples:" + EXAMPLES[name]
        command.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def main(argv: list[str] | None = None) -> int:
    from facekit.checkpoints import CheckpointError
    from facekit.data.audio import AudioError
    from facekit.data.clips import ClipFormatError
    from facekit.data.face import FaceError
    from facekit.data.text import TextError
    from facekit.data.video import VideoError

    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except (ConfigError, ClipFormatError, AudioError, TextError, VideoError, CheckpointError, FaceError) as exc:
        print(f"facekit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"facekit {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
