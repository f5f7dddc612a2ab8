# ST-GCN++ on NW-UCLA cross-view, bone-motion stream: bone[t + 1] - bone[t] (zero at the last frame).
# Same data handling as the joint stream (its comments say why), ST-GCN's schedule (below); GenSkeFeat
# turns the aligned joints into this stream's features just before FormatGCNInput.
#   python tools/train.py configs/skeleton/stgcnpp/stgcnpp_nwucla_xview_bm_3d.py --validate --seed 0
#   python tools/test.py configs/skeleton/stgcnpp/stgcnpp_nwucla_xview_bm_3d.py \
#       work_dirs/stgcnpp_nwucla_xview_bm_3d/latest.pth --out result_bm.pkl
# Fuse the four streams' outputs (joint, bone, jm, bm) with
#   stgcn ensemble result_j.pkl result_b.pkl result_jm.pkl result_bm.pkl --weights 2 2 1 1 \
#       --ann data/nw_ucla.pkl --split xview_val
_base_ = './stgcnpp_nwucla_xview_joint_3d.py'
CLIP_LEN = 24
ROT = (0.3, 0.3, 1.0)  # radians about x, y, z (the joint stream's turn about the vertical)
train_pipeline = [
    dict(type='PreNormalize3D', zaxis=(0, 1), xaxis=(8, 4), align_center=False, keep_float64=False),
    dict(type='RandomSampleFrames', clip_len=CLIP_LEN),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=1, frame=0),
    dict(type='RandomRot', theta=ROT),
    dict(type='RandomScale', scale=0.2),
    dict(type='GenSkeFeat', dataset='nw-ucla', feats=['bm']),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
test_pipeline = [
    dict(type='PreNormalize3D', zaxis=(0, 1), xaxis=(8, 4), align_center=False, keep_float64=False),
    dict(type='RandomSampleFrames', clip_len=CLIP_LEN, test_mode=True),
    dict(type='PoseDecode'),
    dict(type='CenterJoint', joint=1, frame=0),
    dict(type='GenSkeFeat', dataset='nw-ucla', feats=['bm']),
    dict(type='FormatGCNInput', input_format='NCTVM', num_person=1),
    dict(type='Collect', keys=['keypoint', 'label'], meta_keys=[]),
    dict(type='ToTensor', keys=['keypoint'])
]
data = dict(
    videos_per_gpu=16,
    train=dict(pipeline=train_pipeline),
    val=dict(pipeline=test_pipeline),
    test=dict(pipeline=test_pipeline))
# ST-GCN's schedule (48 epochs at batch 16), not the joint stream's 64 at batch 32: for this stream the
# longer one gave no gain (one seed each; benchmarks/accuracy.md, "ST-GCN++ streams").
optimizer = dict(lr=0.1)
total_epochs = 48
checkpoint_config = dict(interval=12)
evaluation = dict(interval=12)
work_dir = './work_dirs/stgcnpp_nwucla_xview_bm_3d/'
