"""Config text for a :class:`~stgcn.autoconfig.recipe.Recipe`: the joint-stream config in the format
of the project's hand-tuned configs (every choice commented with its reason) and, when asked, one
small config per extra stream (bone, motion) that inherits it through ``_base_``."""

from __future__ import annotations

from pathlib import Path

from stgcn.autoconfig.recipe import ALIGN_3D, STREAM_NAMES, STREAM_WEIGHTS, Recipe
from stgcn.data.classes import BUILTIN


def _normalise(recipe: Recipe, aligned: bool) -> tuple[list[str], list[str], str]:
    """(transforms before the sampler, after PoseDecode, why) for the coordinate normalisation."""
    if recipe.dims == 2:
        return [], ["dict(type='CenterScale')"], (
            "2D keypoints: CenterScale centres each clip on its joints' box and divides x and y by one "
            "factor, so a body keeps its proportions and size whatever the frame (portrait or landscape) "
            "and the distance to the camera (on Penn Action 1.0-1.5 points of top-1 over PreNormalize2D, "
            "which scales x and y by the frame's own width and height; benchmarks/accuracy.md)")
    if aligned:
        a = ALIGN_3D[recipe.layout]
        return ([f"dict(type='PreNormalize3D', zaxis={a['zaxis']}, xaxis={a['xaxis']}, align_center=False)"],
                [f"dict(type='CenterJoint', joint={a['center']}, frame=0)"], (
                    f"3D camera coordinates of the {recipe.layout} skeleton: PreNormalize3D turns each clip "
                    f"so that joint {a['zaxis'][0]} -> {a['zaxis'][1]} (spine) points along +z and the "
                    f"shoulders {a['xaxis'][1]} -> {a['xaxis'][0]} along +x (the body, not the camera, fixes "
                    f"the axes); centred on joint {a['center']} of frame 0"))
    reason = f"3D joints with no alignment joints known for {recipe.layout} or more than 2 person slots"
    return [], ["dict(type='MinMaxNormalize')"], f"{reason}: MinMaxNormalize maps each clip to [-1, 1]"


def pipelines(recipe: Recipe, aligned: bool, stream: str = "j") -> tuple[str, str, str]:
    """(train pipeline text, test pipeline text, normalisation why)."""
    before, after, why = _normalise(recipe, aligned)
    theta, scale = (0.3, 0.2) if recipe.dims == 3 else (0.2, 0.1)  # as the hand-tuned 3D / 2D configs
    augment = [f"dict(type='RandomRot', theta={theta})", f"dict(type='RandomScale', scale={scale})"]
    feats = ([f"dict(type='GenSkeFeat', dataset='{recipe.layout}', feats=['{stream}'])"]
             if stream != "j" else [])
    tail = [f"dict(type='FormatGCNInput', input_format='NCTVM', num_person={recipe.num_person})",
            "dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[])",
            "dict(type='ToTensor', keys=['keypoint'])"]
    sampler = f"dict(type='{recipe.sampler}', clip_len=CLIP_LEN"
    train = before + [sampler + ")", "dict(type='PoseDecode')"] + after + augment + feats + tail
    test = before + [sampler + ", test_mode=True)", "dict(type='PoseDecode')"] + after + feats + tail
    return _list(train), _list(test), why


def _list(items: list[str]) -> str:
    return "[\n" + ",\n".join(f"    {item}" for item in items) + "\n]"


def _comment(text: str, width: int = 106) -> list[str]:
    """``# - text`` wrapped at ``width`` characters."""
    words, lines, line = text.split(), [], "# -"
    for word in words:
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#  "
        line += " " + word
    return lines + [line]


def _model_text(recipe: Recipe) -> str:
    return f"""model = dict(
    type='SkeletonGCN',
    backbone=dict(
        type='STGCN',
        in_channels={recipe.in_channels},
        edge_importance_weighting=True,
        graph_cfg=dict(layout='{recipe.layout}', strategy='spatial')),
    cls_head=dict(
        type='STGCNHead',
        num_classes={recipe.num_classes},
        in_channels=256,
        num_person={recipe.num_person},
        label_smooth_eps=0.1,
        loss_cls=dict(type='CrossEntropyLoss')),
    train_cfg=None,
    test_cfg=None)
"""


def _names_text(recipe: Recipe) -> str:
    if recipe.class_names:
        return "\n".join(_comment(recipe.why["names"]) + [f"class_names = {recipe.class_names!r}", ""])
    return ("# Name the classes (label i is class_names[i]; checkpoints keep them): a built-in list\n"
            f"# ({', '.join(BUILTIN)}), a list of strings or a label-map .txt file.\n"
            "# class_names = 'penn_action'\n")


def _amp_text(recipe: Recipe) -> str:
    if recipe.amp != "bf16":
        return ""
    return ("# bf16 autocast on CPU (fp16 with dynamic loss scaling on CUDA); see 'precision' above\n"
            "fp16 = dict(loss_scale='dynamic')\n")


def joint_config(recipe: Recipe, ann_file: str, out: Path, source_note: str, aligned: bool) -> str:
    """The full config text of the joint stream."""
    train, test, norm_why = pipelines(recipe, aligned)
    name = out.stem
    head = [f"# ST-GCN config written by `stgcn init-config` from {ann_file} ({source_note}).",
            "# Every choice says what in the data led to it; the recipe is that of the hand-tuned",
            "# NW-UCLA and Penn Action configs (SGD nesterov, warm-up then per-iteration cosine, label",
            "# smoothing 0.1).",
            f"#   python tools/train.py {out} --validate --seed 0",
            f"#   python tools/test.py {out} work_dirs/{name}/latest.pth \\",
            "#       --eval top_k_accuracy mean_class_accuracy"]
    for key in ("layout", "channels", "classes", "splits", "persons", "clip"):
        head += _comment(recipe.why.get(key, "(not chosen yet)"))
    head += _comment(f"normalisation: {norm_why}; training only: small random rotation and per-axis scale")
    for key in ("batch", "step", "precision", "schedule"):
        head += _comment(recipe.why.get(key, "(not chosen yet)"))
    ckpt, warmup = recipe.interval, "linear" if recipe.warmup else None
    return "\n".join(head) + f"""
CLIP_LEN = {recipe.clip_len}
{_model_text(recipe)}{_names_text(recipe)}
dataset_type = 'PoseDataset'
ann_file = {ann_file!r}
train_pipeline = {train}
test_pipeline = {test}
data = dict(
    videos_per_gpu={recipe.batch},
    workers_per_gpu=1,
    test_dataloader=dict(videos_per_gpu={recipe.batch * 2}),
    train=dict(type=dataset_type, ann_file=ann_file, split={recipe.train_split!r}, pipeline=train_pipeline),
    val=dict(type=dataset_type, ann_file=ann_file, split={recipe.test_split!r}, pipeline=test_pipeline),
    test=dict(type=dataset_type, ann_file=ann_file, split={recipe.test_split!r}, pipeline=test_pipeline))

optimizer = dict(type='SGD', lr={recipe.lr}, momentum=0.9, weight_decay=0.0004, nesterov=True)
optimizer_config = dict(grad_clip=None)
{_amp_text(recipe)}lr_config = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False, warmup={warmup!r},
                 warmup_iters={max(recipe.warmup, 1)}, warmup_by_epoch=True, warmup_ratio=0.01)
total_epochs = {recipe.epochs}
checkpoint_config = dict(interval={ckpt})
evaluation = dict(interval={recipe.interval}, metrics=['top_k_accuracy', 'mean_class_accuracy'])
log_config = dict(interval=20, hooks=[dict(type='TextLoggerHook')])

dist_params = dict(backend='nccl')
log_level = 'INFO'
work_dir = './work_dirs/{name}/'
load_from = None
resume_from = None
workflow = [('train', 1)]
"""


def stream_path(out: Path, stream: str) -> Path:
    return out if stream == "j" else out.with_name(f"{out.stem}_{stream}{out.suffix}")


def stream_config(recipe: Recipe, out: Path, stream: str, aligned: bool) -> str:
    """A config for one extra stream: the joint config's recipe, GenSkeFeat before FormatGCNInput."""
    train, test, _ = pipelines(recipe, aligned, stream)
    path = stream_path(out, stream)
    return f"""# ST-GCN {STREAM_NAMES[stream]} stream written by `stgcn init-config`: the recipe of {out.name}
# (its comments say why), with GenSkeFeat turning the normalised joints into this stream's features.
#   python tools/train.py {path} --validate --seed 0
#   python tools/test.py {path} work_dirs/{path.stem}/latest.pth --out result_{stream}.pkl
_base_ = './{out.name}'
CLIP_LEN = {recipe.clip_len}
train_pipeline = {train}
test_pipeline = {test}
data = dict(
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
work_dir = './work_dirs/{path.stem}/'
"""


def ensemble_note(recipe: Recipe, ann_file: str, out: Path, streams: list[str]) -> str:
    """Comment lines naming the fusion command of the streams (appended to the joint config)."""
    results = " ".join(f"result_{s}.pkl" for s in streams)
    weights = " ".join(str(STREAM_WEIGHTS[s]) for s in streams)
    configs = ", ".join(stream_path(out, s).name for s in streams)
    return (f"# Streams: {configs}. Test each with --out result_<stream>.pkl, then fuse\n"
            "# them (weights of the hand-tuned NW-UCLA 4-stream fusion):\n"
            f"#   stgcn ensemble {results} --weights {weights} \\\n"
            f"#       --ann {ann_file} --split {recipe.test_split}\n")
