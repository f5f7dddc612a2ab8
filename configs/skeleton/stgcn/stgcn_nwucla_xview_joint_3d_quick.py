# ST-GCN on NW-UCLA cross-view, joint stream, 3D: the short recipe of stgcn_nwucla_xview_joint_3d.py,
# for when training time matters more than the last half point.
#   python -m stgcn.cli convert nw-ucla <nw_ucla>/all_sqe data/nw_ucla.pkl
#   python tools/train.py configs/skeleton/stgcn/stgcn_nwucla_xview_joint_3d_quick.py --validate --seed 0
# What changes against the full recipe (benchmarks/accuracy.md, "Time to accuracy"): the 1.x STGCN
# backbone at half the width (base_channels=32) with seven ST-GCN blocks instead of ten (32-32-64-64-128-
# 128-128 channels, the clip halved after blocks 2 and 4: a fifth of the FLOPs; same graph and edge
# importance), batch 32 with twice the learning rate, 56 epochs instead of 48, bf16 autocast, evaluation
# only after the last epoch. Same data handling (24 frames); as a RecognizerGCN config it reads as a
# PYSKL-format file, so PreNormalize3D rounds as 1.x does (float64 until PoseDecode).
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
data = dict(videos_per_gpu=32)
optimizer = dict(lr=0.2)
fp16 = dict(loss_scale=512.)  # bf16 autocast on a CPU (fp16 with loss scaling on CUDA)
total_epochs = 56
checkpoint_config = dict(interval=56)
evaluation = dict(interval=56)
work_dir = './work_dirs/stgcn_nwucla_xview_joint_3d_quick/'
