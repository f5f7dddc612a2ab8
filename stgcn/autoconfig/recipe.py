"""The training recipe `stgcn init-config` writes, each choice with the fact of the data behind it.

The recipe is the one of the project's hand-tuned NW-UCLA and Penn Action configs (SGD nesterov with
warm-up and a per-iteration cosine, label smoothing, light rotation/scale augmentation, a short clip
sampled from each sequence, one person slot for single-actor data); what changes with the data is the
layout, the normalisation (2D image vs 3D camera coordinates), clip length and sampler, persons, batch
size, the precision (bf16 autocast where the CPU runs it natively and it pays) and the epoch count,
sized to a CPU time budget from the measured cost of a training step and of a test pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stgcn.autoconfig.survey import Survey
from stgcn.autoconfig.timing import StepTimes

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
TIME_MARGIN = 0.95  # share of the budget planned for steps and test passes; the rest: start-up, checkpoints
BF16_PAYS = 0.8  # bf16 autocast is chosen when its step takes at most this share of the fp32 step
EVAL_SHARE = 2 / 3  # untimed (--step-seconds): a test batch (2x the batch, forward only) vs a training step


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
    amp: str | None = None  # 'bf16': the config trains under bf16 autocast (`fp16 = dict(...)` on CPU)
    class_names: list[str] | None = None
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


def _interval(epochs: int) -> int | None:
    """The longest test interval dividing ``epochs`` into 3 to 6 passes (every epoch below 3 epochs)."""
    if epochs < 3:
        return 1
    fits = [i for i in range(1, epochs + 1) if epochs % i == 0 and 3 <= epochs // i <= 6]
    return max(fits) if fits else None


def choose_schedule(step: float, eval_batch: float, num_train: int, num_test: int, batch: int,
                    budget_min: float) -> tuple[int, int, int, str]:
    """(epochs, warm-up epochs, eval/checkpoint interval, why): the most epochs whose training steps and
    test passes (``num_test`` clips in batches of ``2 * batch``) fit ``budget_min`` minutes."""
    steps = -(-num_train // batch)
    epoch_seconds = steps * step
    eval_seconds = -(-num_test // (2 * batch)) * eval_batch
    budget = budget_min * 60 * TIME_MARGIN
    epochs, interval = 1, 1
    for n in range(MAX_EPOCHS, 0, -1):
        i = _interval(n)
        if i is not None and n * epoch_seconds + n // i * eval_seconds <= budget:
            epochs, interval = n, i
            break
    warmup = min(3, max(1, round(epochs / 10))) if epochs > 1 else 0
    total = (epochs * epoch_seconds + epochs // interval * eval_seconds) / 60
    why = (f"{steps} steps an epoch = {epoch_seconds / 60:.2f} min, a test pass {eval_seconds / 60:.2f} min; "
           f"{epochs} epochs ({warmup} of warm-up) with a test pass every {interval} take about {total:.1f} "
           f"of the {budget_min:g} min budget (up to {TIME_MARGIN:.0%} of it planned: the rest goes to "
           "start-up and checkpoints)")
    if epochs == MAX_EPOCHS:
        why += f" (at most {MAX_EPOCHS} epochs are planned)"
    if total > budget_min:
        why += "; the budget is shorter than one epoch: expect an under-trained model"
    return epochs, warmup, interval, why


def choose_precision(times: StepTimes) -> tuple[str | None, float, float, str]:
    """(amp, step seconds, test batch seconds, why): bf16 autocast when timed and clearly faster."""
    if times.bf16 is None:
        return None, times.fp32, times.eval_batch, "fp32: this CPU has no native bf16 (AVX512-BF16 or AMX)"
    speedup = times.bf16_speedup or times.fp32 / times.bf16
    if speedup * BF16_PAYS >= 1:
        return "bf16", times.bf16, times.eval_batch, (
            f"bf16 autocast: this CPU runs bf16 natively (AVX512-BF16/AMX) and a training step measured "
            f"{times.bf16:.3f} s under bf16 vs {times.fp32:.3f} s in fp32 ({speedup:.1f}x faster, step "
            "pairs timed back to back), so the epochs are sized with the bf16 step; on NW-UCLA bf16 "
            "training matched fp32 (benchmarks/accuracy.md: mean of 3 seeds 91.24 vs 90.80). "
            "`fp16 = dict(...)` means bf16 autocast on CPU; delete it for fp32")
    return None, times.fp32, times.eval_batch * speedup, (
        f"fp32: bf16 autocast measured {times.bf16:.3f} s a step vs {times.fp32:.3f} s in fp32 "
        f"({speedup:.1f}x), too little to pay for its rounding")


def _step_why(times: StepTimes | None, step: float, batch: int, clip_len: int) -> str:
    if times is None:
        return (f"a training step (batch {batch}, {clip_len} frames) costs {step:.3f} s (--step-seconds); "
                f"a test batch is taken as {EVAL_SHARE:.2f} of it")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"a training step (batch {batch}, {clip_len} frames, data loading included) measured "
            f"{step:.3f} s and a test batch {times.eval_batch:.3f} s on this machine "
            f"({os.cpu_count()} cores, load average {load:.1f} while timing: the budget holds for a "
            "machine as busy as that)")


def build_recipe(survey: Survey, layout: str, layout_why: str, train: str, test: str, budget_min: float,
                 time_recipe: Callable[[Recipe], StepTimes], step_seconds: float | None = None) -> Recipe:
    """Every choice from the data; ``time_recipe(recipe)`` times the recipe's training steps and test
    batches (not called when ``step_seconds`` is given)."""
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
    times = time_recipe(recipe) if step_seconds is None else None
    if times is None:
        recipe.step_seconds, eval_batch = step_seconds, step_seconds * EVAL_SHARE
        precision_why = "fp32 (--step-seconds: nothing was timed)"
    else:
        recipe.amp, recipe.step_seconds, eval_batch, precision_why = choose_precision(times)
    recipe.epochs, recipe.warmup, recipe.interval, schedule_why = choose_schedule(
        recipe.step_seconds, eval_batch, len(train_idx), len(test_idx), batch, budget_min)
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
        "step": _step_why(times, recipe.step_seconds, batch, clip_len),
        "precision": precision_why,
        "schedule": schedule_why,
    }
    return recipe
