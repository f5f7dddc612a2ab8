"""The training recipe `stgcn init-config` writes, each choice with the fact of the data behind it.

The recipe is the one of the project's hand-tuned NW-UCLA and Penn Action configs (SGD nesterov with
warm-up and a per-iteration cosine, label smoothing, light rotation/scale augmentation, a short clip
sampled from each sequence, one person slot for single-actor data); what changes with the data is the
layout, the normalisation (2D image vs 3D camera coordinates), clip length and sampler, persons, batch
size, and the epoch count, which is sized to a CPU time budget from a measured training step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stgcn.autoconfig.survey import Survey
from stgcn.autoconfig.timing import measure_step

# 3D alignment joints per layout: hip/spine base -> spine (zaxis), right -> left shoulder (xaxis), and
# the joint the clip is centred on (spine); PreNormalize3D turns the body, not the camera, into the axes.
ALIGN_3D = {
    "ntu-rgb+d": dict(zaxis=(0, 1), xaxis=(8, 4), center=1),
    "nw-ucla": dict(zaxis=(0, 1), xaxis=(8, 4), center=1),
}
STREAMS = ("j", "b", "jm", "bm")
STREAM_NAMES = {"j": "joint", "b": "bone", "jm": "joint motion", "bm": "bone motion"}
STREAM_WEIGHTS = {"j": 2, "b": 2, "jm": 1, "bm": 1}  # the NW-UCLA 4-stream fusion weights
BASE_LR, BASE_BATCH = 0.1, 16
MAX_EPOCHS = 120  # beyond this a cosine schedule only overfits; small data then finishes early
TIME_MARGIN = 0.85  # share of the budget planned for training; the rest absorbs data loading and noise


@dataclass
class Recipe:
    """The values written into the config and, for each, why (one comment line each)."""

    layout: str
    dims: int
    in_channels: int
    num_classes: int
    num_person: int
    clip_len: int
    sampler: str
    batch: int
    lr: float
    epochs: int
    warmup: int
    interval: int
    train_split: str
    test_split: str
    step_seconds: float
    why: dict[str, str] = field(default_factory=dict)


def round_to(value: float, step: int, low: int, high: int) -> int:
    return int(min(max(step * round(value / step), low), high))


def choose_clip(survey: Survey, idx: np.ndarray) -> tuple[int, str, str]:
    """(clip_len, sampler, why): about 0.6 of the median length, a multiple of 8 in [16, 64]; random
    sorted indices when many clips are shorter than that (they are stretched, not looped)."""
    lengths = survey.lengths[idx]
    median = float(np.median(lengths))
    clip_len = round_to(0.6 * median, 8, 16, 64)
    short = float((lengths < clip_len).mean())
    p10, p90 = np.percentile(lengths, [10, 90])
    sampler = "RandomSampleFrames" if short > 0.1 else "UniformSampleFrames"
    how = ("random sorted indices in training, evenly spaced at test: shorter clips are stretched, not looped"
           if sampler == "RandomSampleFrames" else
           "one frame per equal segment (random within it in training): sparse but covering the whole action")
    why = (f"training clips last {lengths.min()}..{lengths.max()} frames (median {median:.0f}, 10-90% "
           f"{p10:.0f}..{p90:.0f}); CLIP_LEN = {clip_len} (about 0.6 x median, multiple of 8, 16..64), "
           f"{short:.0%} of clips are shorter; {sampler}: {how}")
    return clip_len, sampler, why


def choose_persons(survey: Survey) -> tuple[int, str]:
    counts = np.bincount(survey.persons, minlength=3)
    shown = ", ".join(f"{n} with {k}" for k, n in enumerate(counts) if n)
    num_person = int(min(max(survey.persons.max(), 1), 2))
    why = (f"persons per sample (non-zero joints): {shown}; num_person = {num_person}"
           + (" end to end: padding to 2 would double the compute" if num_person == 1 else
              " (ST-GCN averages the persons' features; more than 2 are cut)"))
    return num_person, why


def choose_batch(num_train: int) -> tuple[int, str]:
    batch = BASE_BATCH if num_train >= 20 * BASE_BATCH else 8
    return batch, (f"{num_train} training clips: batch {batch} ({-(-num_train // batch)} steps per epoch), "
                   f"lr {BASE_LR} x {batch}/{BASE_BATCH} (linear scaling of the hand-tuned recipe)")


def choose_schedule(step: float, num_train: int, num_test: int, batch: int,
                    budget_min: float) -> tuple[int, int, int, str]:
    """(epochs, warm-up epochs, eval/checkpoint interval, why) fitting ``budget_min`` minutes."""
    steps = -(-num_train // batch)
    eval_seconds = num_test / batch * step / 3  # a forward pass costs about a third of a training step
    epoch_seconds = steps * step
    fit = int(budget_min * 60 * TIME_MARGIN // (epoch_seconds + eval_seconds / 4))
    epochs = min(max(fit, 1), MAX_EPOCHS)
    # 3 to 6 test passes, the last one after the final epoch: the interval that keeps most epochs
    intervals = range(max(1, -(-epochs // 6)), max(1, epochs // 3) + 1)
    interval = max(intervals, key=lambda i: (epochs // i * i, -i))
    epochs = epochs // interval * interval
    warmup = min(3, max(1, round(epochs / 10))) if epochs > 1 else 0
    total = (epochs * epoch_seconds + epochs // interval * eval_seconds) / 60
    why = (f"{steps} steps an epoch = {epoch_seconds / 60:.1f} min; {epochs} epochs ({warmup} of warm-up) "
           f"with a test pass every {interval} take about {total:.1f} of the {budget_min:g} min budget")
    if fit > MAX_EPOCHS:
        why += f" (the budget would allow {fit}; at most {MAX_EPOCHS} are planned)"
    if total > budget_min:
        why += "; the budget is shorter than one epoch: expect an under-trained model"
    return epochs, warmup, interval, why


def _step_why(step: float, batch: int, clip_len: int, measured: bool) -> str:
    if not measured:
        return f"a training step (batch {batch}, {clip_len} frames) costs {step:.2f} s (--step-seconds)"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"a training step (batch {batch}, {clip_len} frames) measured {step:.2f} s on this machine "
            f"({os.cpu_count()} cores, load average {load:.1f} while timing; rerun when the machine is "
            "quieter if that was high)")


def build_recipe(survey: Survey, layout: str, layout_why: str, train: str, test: str, budget_min: float,
                 model_cfg_for: Callable[[Recipe], dict], step_seconds: float | None = None) -> Recipe:
    """Every choice from the data; ``model_cfg_for(recipe)`` gives the model config whose step is timed."""
    train_idx, test_idx = survey.indices(train), survey.indices(test)
    dims = 3 if survey.channels == 3 and not survey.with_score else 2
    score = survey.with_score == survey.num_samples
    in_channels = survey.channels + (1 if score else 0)
    clip_len, sampler, clip_why = choose_clip(survey, train_idx)
    num_person, person_why = choose_persons(survey)
    batch, batch_why = choose_batch(len(train_idx))
    recipe = Recipe(layout=layout, dims=dims, in_channels=in_channels, num_classes=survey.num_classes,
                    num_person=num_person, clip_len=clip_len, sampler=sampler, batch=batch,
                    lr=round(BASE_LR * batch / BASE_BATCH, 4), epochs=1, warmup=0, interval=1,
                    train_split=train, test_split=test, step_seconds=0.0)
    measured = step_seconds is None
    recipe.step_seconds = measure_step(model_cfg_for(recipe), batch, clip_len) if measured else step_seconds
    recipe.epochs, recipe.warmup, recipe.interval, schedule_why = choose_schedule(
        recipe.step_seconds, len(train_idx), len(test_idx), batch, budget_min)
    counts = np.bincount(survey.labels[train_idx], minlength=survey.num_classes)
    channels = ("x, y, z (3D joints, no keypoint_score)" if dims == 3 else
                "x, y" + (" + keypoint_score" if score else " (no keypoint_score)"))
    recipe.why = {
        "layout": layout_why,
        "channels": f"{survey.channels} coordinates per joint -> in_channels = {in_channels}: {channels}",
        "classes": (f"labels 0..{survey.num_classes - 1}: num_classes = {survey.num_classes}; training "
                    f"clips per class {counts.min()}..{counts.max()}"),
        "splits": f"train on {train!r} ({len(train_idx)} clips), test on {test!r} ({len(test_idx)} clips)",
        "persons": person_why,
        "clip": clip_why,
        "batch": batch_why,
        "step": _step_why(recipe.step_seconds, batch, clip_len, measured),
        "schedule": schedule_why,
    }
    return recipe
