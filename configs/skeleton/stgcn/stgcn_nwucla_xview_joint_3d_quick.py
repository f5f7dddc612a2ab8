# ST-GCN on NW-UCLA cross-view, joint stream, 3D (as stgcn_nwucla_xview_joint_3d.py): the short recipe,
# for when training time matters more than the last half point.
#   python -m stgcn.cli convert nw-ucla <nw_ucla>/all_sqe data/nw_ucla.pkl
#   python tools/train.py configs/skeleton/stgcn/stgcn_nwucla_xview_joint_3d_quick.py --validate --seed 0
# What changes against the full recipe (benchmarks/accuracy.md, "Time to accuracy"): the 1.x STGCN
# backbone at half the width (base_channels=32: 32-64-128 channels, a quarter of the FLOPs, same ten
# blocks, graph and edge importance), batch 32 with twice the learning rate, bf16 autocast, evaluation
# only after the last epoch. Same data handling, 48 epochs of 24 frames; as a RecognizerGCN config it reads
# as a PYSKL-format file, so PreNormalize3D rounds as 1.x does (float64 until PoseDecode).
CLIP_LEN = 24
ROT = 0.3
model = dict(
    type='RecognizerGCN',
    backbone=dict(
        type='STGCN',
        in_channels=3,
        base_channels=32,
        num_person=1,
        graph_cfg=dict(layout='nw-ucla', mode='stgcn_spatial')),
    cls_head=dict(
        type='GCNHead',
        num_classes=10,
        in_channels=128,
        label_smooth_eps=0.1,
        loss_cls=dict(type='CrossEntropyLoss')),
    test_cfg=dict(average_clips='prob'))

class_names = 'nw_ucla'  # label i is class_names[i] (stgcn.data.classes)
dataset_type = 'PoseDataset'
ann_file = 'data/nw_ucla.pkl'
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
test_pipeline = [
    dict(type='PreNormalize3D', zaxis=(0, 1), xaxis=(8, 4), align_center=False),
    dict(type='RandomSampleFrames', clip_len=CLIP_LEN, test_mode=True),
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
    val=dict(type=dataset_type, ann_file=ann_file, split='xview_val', pipeline=test_pipeline),
    test=dict(type=dataset_type, ann_file=ann_file, split='xview_val', pipeline=test_pipeline))

optimizer = dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=0.0004, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False, warmup='linear',
                 warmup_iters=3, warmup_by_epoch=True, warmup_ratio=0.01)
fp16 = dict(loss_scale=512.)  # bf16 autocast on a CPU (fp16 with loss scaling on CUDA)
total_epochs = 48
checkpoint_config = dict(interval=48)
evaluation = dict(interval=48, metrics=['top_k_accuracy', 'mean_class_accuracy'])
log_config = dict(interval=20, hooks=[dict(type='TextLoggerHook')])

dist_params = dict(backend='nccl')
log_level = 'INFO'
work_dir = './work_dirs/stgcn_nwucla_xview_joint_3d_quick/'
load_from = None
resume_from = None
workflow = [('train', 1)]

