# Quick start: ST-GCN on generated skeletons (no download). 10 classes of periodic joint motion on the
# coco layout (17 joints, x/y/score in a 1920x1080 frame), one person per clip, 32-frame clips, centred on
# joint 0 and min-max scaled to [-1, 1] per clip (inputs of unit scale let BatchNorm's running statistics
# settle within a short run).
#   python tools/train.py configs/skeleton/stgcn/stgcn_quickstart_synthetic.py --validate --seed 0
#   python tools/test.py configs/skeleton/stgcn/stgcn_quickstart_synthetic.py \
#       work_dirs/stgcn_quickstart_synthetic/latest.pth --eval top_k_accuracy mean_class_accuracy
# On an idle 2-core CPU training takes 40-80 s (77 s on 2026-12-07, README quick start); chance level is
# 10% top-1, the final checkpoint reaches about 89%.
model = dict(
    type='SkeletonGCN',
    backbone=dict(
        type='STGCN',
        in_channels=3,
        edge_importance_weighting=True,
        graph_cfg=dict(layout='coco', strategy='spatial')),
    cls_head=dict(
        type='STGCNHead',
        num_classes=10,
        in_channels=256,
        num_person=1,
        loss_cls=dict(type='CrossEntropyLoss')),
    train_cfg=None,
    test_cfg=None)

dataset_type = 'SyntheticPoseDataset'
train_pipeline = [
    dict(type='UniformSampleFrames', clip_len=32),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=0, frame=0),
    dict(type='MinMaxNormalize'),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
test_pipeline = [
    dict(type='UniformSampleFrames', clip_len=32, test_mode=True),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=0, frame=0),
    dict(type='MinMaxNormalize'),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(
    videos_per_gpu=16,
    workers_per_gpu=0,
    test_dataloader=dict(videos_per_gpu=16),
    train=dict(type=dataset_type, split='train', num_samples=400, num_person=1, pipeline=train_pipeline),
    val=dict(type=dataset_type, split='val', num_samples=100, num_person=1, pipeline=test_pipeline),
    test=dict(type=dataset_type, split='val', num_samples=100, num_person=1, pipeline=test_pipeline))

optimizer = dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0001, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False)
total_epochs = 8
checkpoint_config = dict(interval=4)
evaluation = dict(interval=2, metrics=['top_k_accuracy', 'mean_class_accuracy'])
log_config = dict(interval=10, hooks=[dict(type='TextLoggerHook')])

dist_params = dict(backend='nccl')
log_level = 'INFO'
work_dir = './work_dirs/stgcn_quickstart_synthetic/'
load_from = None
resume_from = None
workflow = [('train', 1)]
