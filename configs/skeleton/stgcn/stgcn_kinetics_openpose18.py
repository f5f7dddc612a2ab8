# ST-GCN on Kinetics-skeleton (Yan et al., AAAI 2018, §4): 400 classes, OpenPose-18 joints estimated
# on 340x256 video at 30 fps, channels x, y, joint score; up to 300 frames (10 s) per clip.
#   python -m stgcn.cli convert kinetics data/kinetics.pkl \
#       --data <kinetics-skeleton>/kinetics_train <kinetics-skeleton>/kinetics_val \
#       --labels <kinetics-skeleton>/kinetics_train_label.json <kinetics-skeleton>/kinetics_val_label.json \
#       --split-names train val
#   (for the .npy + .pkl form of the release use stgcn_kinetics_openpose18_npy.py)
#   python tools/train.py configs/skeleton/stgcn/stgcn_kinetics_openpose18.py --validate
#   python tools/test.py configs/skeleton/stgcn/stgcn_kinetics_openpose18.py \
#       work_dirs/stgcn_kinetics_openpose18/latest.pth --eval top_k_accuracy
# What each choice follows (the original release's config/st_gcn/kinetics-skeleton/train.yaml and its
# feeder), and where this pipeline differs:
# - Model: openpose-18 graph, spatial partition strategy, learnable edge importance, 3 input channels,
#   400 classes, 2 persons (the head averages them), as train.yaml.
# - Persons: the 2 with the highest mean joint score are kept, ranked in each frame, the rest dropped.
#   `convert kinetics --num-person 2` (the default) does this ranking like st-gcn's feeder; when a
#   file was converted with more persons, FormatGCNInput keeps the first 2, i.e. still the best 2.
#   A frame with fewer persons leaves the slot empty (score 0), as in st-gcn.
# - Coordinates: the release stores x, y in [0, 1] of the frame; st-gcn centres them (x - 0.5) and
#   zeroes undetected joints. PreNormalize2D (img_shape (1, 1)) maps them to [-1, 1] instead, twice
#   st-gcn's scale, and undetected joints and empty person slots (score 0) land at (-1, -1) rather
#   than at the centre (stgcn_kinetics_openpose18_npy.py keeps st-gcn's exact input).
# - Training augmentation (st-gcn: random_choose of a 150-frame window and random_move):
#   * time: 150 frames (WINDOW, st-gcn's window_size) by random segment sampling over the whole clip;
#     st-gcn takes one random contiguous 150-frame window of the zero-padded 300 frames instead.
#   * space: random in-plane rotation up to 10 degrees and scaling by 0.9-1.1, st-gcn's random_move
#     ranges; st-gcn also translates by up to 0.2 and varies the transform smoothly over time, and
#     scales both axes by one factor (RandomScale draws one factor per axis). No translation here.
# - Test: all CLIP_LEN = 300 frames (st-gcn tests on the full 300-frame tensor); clips shorter than
#   300 frames are looped here where st-gcn pads them with zeros.
# - Schedule (train.yaml): SGD lr 0.1, x0.1 at epochs 20, 30 and 40 (train.yaml also lists 50, the
#   end of training), 50 epochs, batch 256 (st-gcn: 4 GPUs x 64); momentum 0.9, nesterov and weight
#   decay 1e-4 are st-gcn's processor defaults. With a smaller batch, scale lr linearly
#   (e.g. --cfg-options data.videos_per_gpu=64 optimizer.lr=0.025).
CLIP_LEN = 300
WINDOW = 150
model = dict(
    type='SkeletonGCN',
    backbone=dict(
        type='STGCN',
        in_channels=3,
        edge_importance_weighting=True,
        graph_cfg=dict(layout='openpose-18', strategy='spatial')),
    cls_head=dict(
        type='STGCNHead',
        num_classes=400,
        in_channels=256,
        num_person=2,
        loss_cls=dict(type='CrossEntropyLoss')),
    train_cfg=None,
    test_cfg=None)

dataset_type = 'PoseDataset'
ann_file = 'data/kinetics.pkl'
train_pipeline = [
    dict(type='UniformSampleFrames', clip_len=WINDOW),
    dict(type='PoseDecode'),
    dict(type='PreNormalize2D'),
    dict(type='RandomRot', theta=0.1745),  # 10 degrees
    dict(type='RandomScale', scale=0.1),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=2),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
test_pipeline = [
    dict(type='PaddingWithLoop', clip_len=CLIP_LEN),
    dict(type='PoseDecode'),
    dict(type='PreNormalize2D'),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=2),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(
    videos_per_gpu=256,
    workers_per_gpu=4,
    test_dataloader=dict(videos_per_gpu=256),
    train=dict(type=dataset_type, ann_file=ann_file, split='train', pipeline=train_pipeline),
    val=dict(type=dataset_type, ann_file=ann_file, split='val', pipeline=test_pipeline),
    test=dict(type=dataset_type, ann_file=ann_file, split='val', pipeline=test_pipeline))

optimizer = dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001, nesterov=True)
optimizer_config = dict(grad_clip=None)
lr_config = dict(policy='step', step=[20, 30, 40])
total_epochs = 50
checkpoint_config = dict(interval=10)
evaluation = dict(interval=5, metrics=['top_k_accuracy'])
log_config = dict(interval=100, hooks=[dict(type='TextLoggerHook')])

dist_params = dict(backend='nccl')
log_level = 'INFO'
work_dir = './work_dirs/stgcn_kinetics_openpose18/'
load_from = None
resume_from = None
workflow = [('train', 1)]
