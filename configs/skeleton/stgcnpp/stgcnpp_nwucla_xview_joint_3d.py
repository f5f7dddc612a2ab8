# ST-GCN++ (Duan et al. 2022; mmaction2 1.x / PYSKL STGCN with gcn_adaptive='init', gcn_with_res=True,
# tcn_type='mstcn') on NW-UCLA cross-view (train views 1+2, test view 3), joint stream, 3D Kinect v1
# joints ('nw-ucla' layout, 20 joints, x/y/z), one person per clip.
#   python -m stgcn.cli convert nw-ucla <nw_ucla>/all_sqe data/nw_ucla.pkl
#   python tools/train.py configs/skeleton/stgcnpp/stgcnpp_nwucla_xview_joint_3d.py --validate --seed 0
#   python tools/test.py configs/skeleton/stgcnpp/stgcnpp_nwucla_xview_joint_3d.py \
#       work_dirs/stgcnpp_nwucla_xview_joint_3d/latest.pth --eval top_k_accuracy mean_class_accuracy
# Data handling is that of configs/skeleton/stgcn/stgcn_nwucla_xview_joint_3d.py (view alignment,
# centring on the spine, rotation and scaling in training, M = 1, 24 frames; SGD nesterov, cosine with
# warm-up, label smoothing 0.1) but for the rotation: up to 1.0 rad (57 degrees) about the body's
# vertical axis (z after PreNormalize3D's alignment), where the three cameras differ, and 0.3 about the
# other two; the schedule is ST-GCN++'s own on a CPU: 72 epochs at batch 32, lr 0.2. As in mmaction2
# 1.x, validation during training takes one clip per sample and the test ten (the evenly spaced clip and
# nine sorted random draws with a fixed seed), their logits averaged. Top-1 (final epoch, seeds 0-2,
# 11.3-13.7 min of training each on a 2-core Intel CPU with AMX): ten clips 93.10 / 93.10 / 93.75%, mean
# 93.32%; one clip 93.10 / 92.24 / 93.10%, mean 92.81%; 92.74% (ten clips) at 64 epochs
# (benchmarks/accuracy.md). One test clip: tools/test.py ... --cfg-options data.test.pipeline.1.num_clips=1
# Training runs under bf16 autocast on CPU (`fp16 = dict(...)`), 1.6-1.7x as fast as fp32 there
# (benchmarks/README.md).
CLIP_LEN = 24
ROT = (0.3, 0.3, 1.0)  # radians about x, y, z
model = dict(
    type='RecognizerGCN',
    backbone=dict(
        type='STGCN',
        in_channels=3,
        num_person=1,
        gcn_adaptive='init',
        gcn_with_res=True,
        tcn_type='mstcn',
        graph_cfg=dict(layout='nw-ucla', mode='spatial')),
    cls_head=dict(
        type='GCNHead',
        num_classes=10,
        in_channels=256,
        label_smooth_eps=0.1,
        loss_cls=dict(type='CrossEntropyLoss')))
# A RecognizerGCN model in this (mmcv-1.x style) file makes it a PYSKL-format config: clips' logits
# averaged, so the scores are logits as the ST-GCN configs give and fuse with the other streams' in
# `stgcn ensemble` (PYSKL's default averages softmax probabilities), and float32 after PreNormalize3D.
test_cfg = dict(average_clips='score')

class_names = 'nw_ucla'  # label i is class_names[i] (stgcn.data.classes)
dataset_type = 'PoseDataset'
ann_file = 'data/nw_ucla.pkl'
train_pipeline = [
    dict(type='PreNormalize3D', zaxis=(0, 1), xaxis=(8, 4), align_center=False, keep_float64=False),
    dict(type='RandomSampleFrames', clip_len=CLIP_LEN),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=1, frame=0),
    dict(type='RandomRot', theta=ROT),
    dict(type='RandomScale', scale=0.2),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
val_pipeline = [
    dict(type='PreNormalize3D', zaxis=(0, 1), xaxis=(8, 4), align_center=False, keep_float64=False),
    dict(type='RandomSampleFrames', clip_len=CLIP_LEN, test_mode=True),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=1, frame=0),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
test_pipeline = [
    dict(type='PreNormalize3D', zaxis=(0, 1), xaxis=(8, 4), align_center=False, keep_float64=False),
    dict(type='RandomSampleFrames', clip_len=CLIP_LEN, num_clips=10, test_mode=True),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=1, frame=0),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(
    videos_per_gpu=32,
    workers_per_gpu=1,
    test_dataloader=dict(videos_per_gpu=32),
    train=dict(type=dataset_type, ann_file=ann_file, split='xview_train', pipeline=train_pipeline),
    val=dict(type=dataset_type, ann_file=ann_file, split='xview_val', pipeline=val_pipeline),
    test=dict(type=dataset_type, ann_file=ann_file, split='xview_val', pipeline=test_pipeline))

optimizer = dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=0.0004, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False, warmup='linear',
                 warmup_iters=3, warmup_by_epoch=True, warmup_ratio=0.01)
total_epochs = 72
fp16 = dict(loss_scale=512.)  # bf16 autocast on CPU (no loss scaling needed there)
checkpoint_config = dict(interval=24)
evaluation = dict(interval=24, metrics=['top_k_accuracy', 'mean_class_accuracy'])
log_config = dict(interval=20, hooks=[dict(type='TextLoggerHook')])

dist_params = dict(backend='nccl')
log_level = 'INFO'
work_dir = './work_dirs/stgcnpp_nwucla_xview_joint_3d/'
load_from = None
resume_from = None
workflow = [('train', 1)]
