# ST-GCN on NW-UCLA cross-view, joint stream, 3D: the short recipe of stgcn_nwucla_xview_joint_3d.py,
# for when training time matters more than the last half point.
#   python -m stgcn.cli convert nw-ucla <nw_ucla>/all_sqe data/nw_ucla.pkl
#   python tools/train.py configs/skeleton/stgcn/stgcn_nwucla_xview_joint_3d_quick.py --validate --seed 0
# What changes against the full recipe (benchmarks/accuracy.md, "Time to accuracy"): the 1.x STGCN
# backbone at half the width (base_channels=32) with seven ST-GCN blocks instead of ten (32-32-64-64-128-
# 128-128 channels, the clip halved after blocks 2 and 4: a fifth of the FLOPs; same graph and edge
# importance), batch 32 with twice the learning rate, 56 epochs instead of 48, bf16 autocast, evaluation
# only after the last epoch. Same data handling (24 frames) but for the rotation in training: up to 1.0 rad
# about the body's vertical axis (z after PreNormalize3D), 0.3 about x and y: 91.38 / 92.46 / 92.24%
# (seeds 0-2, mean 92.03%) in 2.3-2.4 min of training each, against 90.87% with 0.3 about every axis
# (benchmarks/accuracy.md). As a RecognizerGCN config it reads as a PYSKL-format file, so PreNormalize3D
# rounds as 1.x does (float64 until PoseDecode).
_base_ = './stgcn_nwucla_xview_joint_3d.py'
model = dict(
    _delete_=True,
    type='RecognizerGCN',
    backbone=dict(
        type='STGCN',
        in_channels=3,
        base_channels=32,
        num_stages=7,
        inflate_stages=[3, 5],
        down_stages=[3, 5],
        num_person=1,
        graph_cfg=dict(layout='nw-ucla', mode='stgcn_spatial')),
    cls_head=dict(
        type='GCNHead',
        num_classes=10,
        in_channels=128,
        label_smooth_eps=0.1,
        loss_cls=dict(type='CrossEntropyLoss')),
    test_cfg=dict(average_clips='prob'))
CLIP_LEN = 24
ROT = (0.3, 0.3, 1.0)  # radians about x, y, z
train_pipeline = [
    dict(type='PreNormalize3D', zaxis=(0, 1), xaxis=(8, 4), align_center=False),
    dict(type='RandomSampleFrames', clip_len=CLIP_LEN),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=1, frame=0),
    dict(type='RandomRot', theta=ROT),
    dict(type='RandomScale', scale=0.2),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(videos_per_gpu=32, train=dict(pipeline=train_pipeline))
optimizer = dict(lr=0.2)
fp16 = dict(loss_scale=512.)  # bf16 autocast on a CPU (fp16 with loss scaling on CUDA)
total_epochs = 56
checkpoint_config = dict(interval=56)
evaluation = dict(interval=56)
work_dir = './work_dirs/stgcn_nwucla_xview_joint_3d_quick/'
