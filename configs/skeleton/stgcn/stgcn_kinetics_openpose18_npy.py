# ST-GCN on Kinetics-skeleton from the release's .npy + .pkl form (train_data.npy, train_label.pkl, ...):
# the same model, persons, augmentation and schedule as stgcn_kinetics_openpose18.py (see its notes).
#   python -m stgcn.cli convert numpy data/kinetics_npy.pkl --score-channel --layout openpose-18 \
#       --data <kinetics-skeleton>/train_data.npy <kinetics-skeleton>/val_data.npy \
#       --labels <kinetics-skeleton>/train_label.pkl <kinetics-skeleton>/val_label.pkl
#   python tools/train.py configs/skeleton/stgcn/stgcn_kinetics_openpose18_npy.py --validate
# These arrays were made by st-gcn's own feeder: the 2 best persons per frame, x, y already centred
# (x - 0.5, in [-0.5, 0.5]) with undetected joints at 0. So there is no PreNormalize2D here, and the
# input matches st-gcn's scale exactly (the JSON config's [-1, 1] is twice that).
_base_ = 'stgcn_kinetics_openpose18.py'
CLIP_LEN = 300
WINDOW = 150
ann_file = 'data/kinetics_npy.pkl'
train_pipeline = [
    dict(type='UniformSampleFrames', clip_len=WINDOW),
    dict(type='PoseDecode'),
    dict(type='RandomRot', theta=0.1745),  # 10 degrees
    dict(type='RandomScale', scale=0.1),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=2),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
test_pipeline = [
    dict(type='PaddingWithLoop', clip_len=CLIP_LEN),
    dict(type='PoseDecode'),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=2),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(
    train=dict(ann_file=ann_file, pipeline=train_pipeline),
    val=dict(ann_file=ann_file, pipeline=test_pipeline),
    test=dict(ann_file=ann_file, pipeline=test_pipeline))
work_dir = './work_dirs/stgcn_kinetics_openpose18_npy/'
