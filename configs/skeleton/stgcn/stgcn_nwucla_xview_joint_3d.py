# ST-GCN on NW-UCLA cross-view (train views 1+2, test view 3), joint stream, 3D Kinect v1 joints
# ('nw-ucla' layout, 20 joints, x/y/z), one person per clip.
#   python -m stgcn.cli convert nw-ucla <nw_ucla>/all_sqe data/nw_ucla.pkl
#   python tools/train.py configs/skeleton/stgcn/stgcn_nwucla_xview_joint_3d.py --validate --seed 0
#   python tools/test.py configs/skeleton/stgcn/stgcn_nwucla_xview_joint_3d.py \
#       work_dirs/stgcn_nwucla_xview_joint_3d/latest.pth --eval top_k_accuracy mean_class_accuracy
# Recipe (chosen for accuracy within a 2-core CPU budget by a seeded GPU sweep; benchmarks/accuracy.md):
# - M = 1 end to end (FormatGCNInput and the head): padding to 2 persons would double the compute.
# - View alignment (PreNormalize3D): rotate each clip so that hip centre -> spine of its first frame points
#   along +z and the left -> right shoulder along +x. The test view is a camera the model never saw; after
#   this the body, not the camera, fixes the axes. It beat per-clip min-max normalisation (about 89% vs
#   90.5-91% over seeds on the GPU sweep). Centre on the spine joint (1) of frame 0 after sampling.
# - Training only: small random rotation (ROT rad about x, y and z) and per-axis scale 0.8-1.2 for the
#   residual alignment error and body size; a wider rotation (0.5-1.0 rad) did not help.
# - CLIP_LEN = 24 frames (clips average 39): random sorted indices in training, evenly spaced at test.
#   On the sweep 24 frames x 48 epochs matched 32 x 36 and beat 40 x 30 at about the same CPU cost.
# - SGD nesterov lr 0.1, batch 16, wd 4e-4, 3 warm-up epochs then cosine to 0 per iteration, label
#   smoothing 0.1; evaluation every 12 epochs (the reported number is the final epoch, not the best).
CLIP_LEN = 24
ROT = 0.3
model = dict(
    type='SkeletonGCN',
    backbone=dict(
        type='STGCN',
        in_channels=3,
        edge_importance_weighting=True,
        graph_cfg=dict(layout='nw-ucla', strategy='spatial')),
    cls_head=dict(
        type='STGCNHead',
        num_classes=10,
        in_channels=256,
        num_person=1,
        label_smooth_eps=0.1,
        loss_cls=dict(type='CrossEntropyLoss')),
    train_cfg=None,
    test_cfg=None)

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
    videos_per_gpu=16,
    workers_per_gpu=1,
    test_dataloader=dict(videos_per_gpu=32),
    train=dict(type=dataset_type, ann_file=ann_file, split='xview_train', pipeline=train_pipeline),
    val=dict(type=dataset_type, ann_file=ann_file, split='xview_val', pipeline=test_pipeline),
    test=dict(type=dataset_type, ann_file=ann_file, split='xview_val', pipeline=test_pipeline))

optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0004, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False, warmup='linear',
                 warmup_iters=3, warmup_by_epoch=True, warmup_ratio=0.01)
total_epochs = 48
checkpoint_config = dict(interval=12)
evaluation = dict(interval=12, metrics=['top_k_accuracy', 'mean_class_accuracy'])
log_config = dict(interval=20, hooks=[dict(type='TextLoggerHook')])

dist_params = dict(backend='nccl')
log_level = 'INFO'
work_dir = './work_dirs/stgcn_nwucla_xview_joint_3d/'
load_from = None
resume_from = None
workflow = [('train', 1)]
