# ST-GCN++ (Duan et al. 2022; mmaction2 1.x / PYSKL STGCN with gcn_adaptive='init', gcn_with_res=True,
# tcn_type='mstcn') on Penn Action (official train/test split: 1258 / 1068 clips, 15 classes), joint
# stream, 2D joints in the COCO-17 layout (eyes and ears absent: zero with score 0); channels x, y,
# visibility score; one person per clip.
#   python -m stgcn.cli convert penn-action <penn_action>/labels data/penn_action.pkl
#   python tools/train.py configs/skeleton/stgcnpp/stgcnpp_penn_action_joint_2d.py --validate --seed 0
#   python tools/test.py configs/skeleton/stgcnpp/stgcnpp_penn_action_joint_2d.py \
#       work_dirs/stgcnpp_penn_action_joint_2d/latest.pth --eval top_k_accuracy mean_class_accuracy
# Data handling, optimiser and schedule are those of
# configs/skeleton/stgcn/stgcn_penn_action_joint_2d_quick.py
# (16 frames, random mirroring, 10 mirrored test clips, 20 epochs, bf16 autocast on CPU, the coco graph in
# 0.x's 'stgcn_spatial' partition where PYSKL's ST-GCN++ uses 'spatial'), CenterScale included: it
# replaces PreNormalize2D, which divides x and y by the frame's own width and height, so a body in a
# 480x270 frame comes out a third taller than in a 480x360 one (Penn Action has both); CenterScale
# centres each clip on its joints' box and divides both axes by one factor. Top-1 97.78% (mean of 3
# seeds) against 96.29% with PreNormalize2D (benchmarks/accuracy.md).
CLIP_LEN = 16
model = dict(
    type='RecognizerGCN',
    backbone=dict(
        type='STGCN',
        in_channels=3,
        num_person=1,
        gcn_adaptive='init',
        gcn_with_res=True,
        tcn_type='mstcn',
        graph_cfg=dict(layout='coco', mode='stgcn_spatial')),
    cls_head=dict(
        type='GCNHead',
        num_classes=15,
        in_channels=256,
        label_smooth_eps=0.1,
        loss_cls=dict(type='CrossEntropyLoss')),
    test_cfg=dict(average_clips='prob'))

class_names = 'penn_action'  # label i is class_names[i] (stgcn.data.classes)
# coco joints Penn Action has no counterpart for (stgcn convert penn-action leaves them 0, score 0):
# `stgcn demo` and `stgcn vis` feed them as absent when a video's pose has them
absent_joints = ['left_eye', 'right_eye', 'left_ear', 'right_ear']
dataset_type = 'PoseDataset'
ann_file = 'data/penn_action.pkl'
train_pipeline = [
    dict(type='UniformSampleFrames', clip_len=CLIP_LEN),
    dict(type='PoseDecode'),
    dict(type='CenterScale'),
    dict(type='Flip', dataset='coco', flip_ratio=0.5),
    dict(type='RandomRot', theta=0.2),
    dict(type='RandomScale', scale=0.1),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
test_pipeline = [
    dict(type='UniformSampleFrames', clip_len=CLIP_LEN, num_clips=10, test_mode=True),
    dict(type='PoseDecode'),
    dict(type='CenterScale'),
    dict(type='Flip', dataset='coco', test_mode=True),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(
    videos_per_gpu=16,
    workers_per_gpu=1,
    test_dataloader=dict(videos_per_gpu=32),
    train=dict(type=dataset_type, ann_file=ann_file, split='train', pipeline=train_pipeline),
    val=dict(type=dataset_type, ann_file=ann_file, split='test', pipeline=test_pipeline),
    test=dict(type=dataset_type, ann_file=ann_file, split='test', pipeline=test_pipeline))

optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0004, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='CosineAnnealing', min_lr=0, by_epoch=False, warmup='linear',
                 warmup_iters=1, warmup_by_epoch=True, warmup_ratio=0.01)
fp16 = dict(loss_scale=512.)  # bf16 autocast on a CPU (fp16 with loss scaling on CUDA)
total_epochs = 20
checkpoint_config = dict(interval=20)
evaluation = dict(interval=20, metrics=['top_k_accuracy', 'mean_class_accuracy'])
log_config = dict(interval=20, hooks=[dict(type='TextLoggerHook')])

dist_params = dict(backend='nccl')
log_level = 'INFO'
work_dir = './work_dirs/stgcnpp_penn_action_joint_2d/'
load_from = None
resume_from = None
workflow = [('train', 1)]
