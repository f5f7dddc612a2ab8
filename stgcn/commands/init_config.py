"""`stgcn init-config ANN OUT.py`: write a commented training config for an annotation file.

Reads the file (a .pkl or a packed directory) and chooses, from what it holds: the layout (from the
joint and coordinate counts; `--layout` when several fit), 2D or 3D normalisation, in_channels,
num_classes, class names (from the ANN.classes.txt `extract-pose` writes), persons, clip length and
sampler (from the clip-length distribution), batch size, precision, and an epoch count and schedule
that fill `--budget-min` minutes of training on this machine: a few training steps (data loading
included) and test batches of the config are timed first, in fp32 and, on a CPU with native bf16,
under bf16 autocast, which the config then uses when it is clearly faster. Each choice is written as
a comment naming the fact behind it. `--streams j,b,jm,bm` also writes one config per extra stream
(OUT_b.py, ...) and the `stgcn ensemble` command that fuses them. Bad data is refused, one line,
before anything is written: mixed joint or coordinate counts, a split name that does not exist, a
class missing from the training split or with too few samples there.

  stgcn init-config data/penn_action.pkl configs/my_penn.py --budget-min 10
  stgcn init-config data/nw_ucla.pkl my_ucla.py --split-train xview_train --split-test xview_val --streams j,b
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from stgcn.errors import StgcnError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ann_file", help="annotation .pkl (split dict) or packed directory")
    parser.add_argument("out", help="config file to write (.py)")
    parser.add_argument("--layout", help="skeleton layout (default: the one built-in layout fitting V and C)")
    parser.add_argument("--split-train", help="training split (default: the split named *train*)")
    parser.add_argument("--split-test", help="test split (default: the *val*/*test* split matching it)")
    parser.add_argument("--budget-min", type=float, default=10.0,
                        help="minutes of training on this machine the schedule is sized to (10)")
    parser.add_argument("--streams", default="j",
                        help="comma-separated streams: j (joint), b (bone), jm, bm (motion); default j")
    parser.add_argument("--step-seconds", type=float,
                        help="seconds of one training step instead of timing a few (e.g. the `time` "
                        "of a .log.json)")
    parser.add_argument("--timing-steps", type=int, default=8,
                        help="training steps timed per precision, after 2 untimed ones (8)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing config files")


def _streams(text: str) -> list[str]:
    from stgcn.autoconfig.recipe import STREAMS

    streams = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in streams if s not in STREAMS]
    if bad or not streams:
        raise StgcnError(f"--streams {text!r}: unknown stream {', '.join(bad) or '(none)'}; use a comma list "
                         f"of {', '.join(STREAMS)}")
    return ["j"] + [s for s in STREAMS[1:] if s in streams]  # the joint config is the others' base


def _layout(survey, requested: str | None, dims: int) -> tuple[str, str]:
    from stgcn.autoconfig.layout import guess_layout
    from stgcn.graph import LAYOUTS, get_layout

    if requested is None:
        name = guess_layout(survey.num_joints, dims, survey.source)
        return name, (f"{survey.num_joints} joints with {dims}D coordinates: layout '{name}', the one "
                      "built-in layout of that size")
    if get_layout(requested).num_node != survey.num_joints:
        fits = [n for n, lay in LAYOUTS.items() if lay.num_node == survey.num_joints]
        raise StgcnError(f"--layout {requested}: it has {get_layout(requested).num_node} joints, the data "
                         f"{survey.num_joints}; layouts with {survey.num_joints}: "
                         f"{', '.join(fits) or 'none'}")
    return requested, f"{survey.num_joints} joints with {dims}D coordinates: layout '{requested}' (--layout)"


def run(args: argparse.Namespace) -> int:
    from stgcn.autoconfig import render
    from stgcn.autoconfig.recipe import ALIGN_3D, build_recipe
    from stgcn.autoconfig.survey import check_classes, find_class_names, pick_splits, survey_annotations
    from stgcn.autoconfig.timing import StepTimes, bf16_supported, measure
    from stgcn.fileio import write_atomic
    from stgcn.graph import LAYOUTS, get_layout

    out = Path(args.out)
    if out.suffix != ".py":
        raise StgcnError(f"{out}: a config file must end in .py")
    if args.budget_min <= 0 or (args.step_seconds is not None and args.step_seconds <= 0):
        raise StgcnError(f"--budget-min {args.budget_min} / --step-seconds {args.step_seconds}: give "
                         "positive numbers")
    if args.timing_steps < 1:
        raise StgcnError(f"--timing-steps {args.timing_steps}: time at least 1 step")
    streams = _streams(args.streams)
    paths = [render.stream_path(out, s) for s in streams]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not args.overwrite:
        raise StgcnError(f"{', '.join(existing)} already exists; pass --overwrite to replace it")
    survey = survey_annotations(args.ann_file)
    dims = 3 if survey.channels == 3 and not survey.with_score else 2
    layout, layout_why = _layout(survey, args.layout, dims)
    if len(streams) > 1 and get_layout(layout).bones is None:
        with_bones = [name for name, lay in LAYOUTS.items() if lay.bones is not None]
        raise StgcnError(f"--streams {args.streams}: bone and motion streams need the layout's bone "
                         f"pairs; '{layout}' has none (layouts with them: {', '.join(with_bones)}); "
                         "use --streams j")
    train, test = pick_splits(survey, args.split_train, args.split_test)
    names, names_why = find_class_names(args.ann_file, survey.num_classes)
    check_classes(survey, train, test, names)
    if args.step_seconds is None:
        print(f"{survey.source}: {survey.num_samples} samples; timing a few training steps and test "
              "batches of the config ...")
    aligned = layout in ALIGN_3D and survey.slots.max() <= 2
    note = f"{survey.num_samples} samples, {survey.num_classes} classes"

    def time_recipe(recipe) -> StepTimes:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / out.name
            path.write_text(render.joint_config(recipe, args.ann_file, out, note, aligned))
            return measure(path, with_bf16=bf16_supported(), steps=args.timing_steps)

    recipe = build_recipe(survey, layout, layout_why, train, test, args.budget_min, time_recipe,
                          args.step_seconds)
    recipe.class_names, recipe.why["names"] = names, names_why
    texts = {"j": render.joint_config(recipe, args.ann_file, out, note, aligned)}
    for stream in streams[1:]:
        texts[stream] = render.stream_config(recipe, out, stream, aligned)
    if len(streams) > 1:
        texts["j"] += render.ensemble_note(recipe, args.ann_file, out, streams)
    for stream, path in zip(streams, paths, strict=True):
        write_atomic(path, texts[stream].encode("utf-8"))
        print(f"wrote {path}")
    for key in ("layout", "names", "persons", "clip", "batch", "step", "precision", "schedule"):
        print(f"  {key}: {recipe.why[key]}")
    return 0
