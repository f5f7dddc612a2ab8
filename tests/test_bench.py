"""`stgcn bench`'s FLOP count against hand counts of tiny ST-GCN and ST-GCN++ models."""

import pytest

import stgcn
from stgcn.commands.bench import model_flops
from stgcn.errors import StgcnError


def _tiny_stgcnpp():
    return stgcn.build_model(dict(
        type="RecognizerGCN",
        backbone=dict(type="STGCN", graph_cfg=dict(layout="coco", mode="spatial"), base_channels=8,
                      num_stages=3, inflate_stages=(3,), down_stages=(3,), gcn_adaptive="init",
                      gcn_with_res=True, tcn_type="mstcn"),
        cls_head=dict(type="GCNHead", num_classes=4, in_channels=16)))


def test_stgcnpp_flops_equal_a_hand_count():
    # coco: V=17, K=3 partitions; T=8. Blocks 3->8 (no residual), 8->8 (identity), 8->16 (stride 2).
    # mstcn widths: 8 channels -> branches 3,1,1,1,1,1; 16 -> 6,2,2,2,2,2.
    v, t = 17, 8
    block0 = (t * v * 3 * 24 + t * v * v * 24      # graph conv 3 -> 3*8, aggregation over 3*8 channels
              + t * v * 3 * 8                      # down 1x1 3 -> 8
              + t * v * 8 * 7 + t * v * 8 * 1      # branch 1x1s 8 -> 3+1+1+1+1, plain 1x1 8 -> 1
              + t * v * 3 * 3 * 3 + 3 * t * v * 1 * 1 * 3   # 3x1 convs on 3 and 3x 1 channels
              + t * v * 8 * 8)                     # transform 1x1
    block1 = block0 - t * v * 3 * 24 + t * v * 8 * 24 - t * v * 3 * 8   # 8 in, no down
    t2 = 4
    block2 = (t * v * 8 * 48 + t * v * v * 48 + t * v * 8 * 16
              + t * v * 16 * 14 + t2 * v * 16 * 2
              + t2 * v * 6 * 6 * 3 + 3 * t2 * v * 2 * 2 * 3
              + t2 * v * 16 * 16
              + t2 * v * 8 * 16)                   # residual 1x1 stride 2
    model = _tiny_stgcnpp()
    assert model_flops(model, t, 1) == 2 * (block0 + block1 + block2)
    assert model_flops(model, t, 2) == 4 * (block0 + block1 + block2)


def test_stgcn_flops_equal_a_hand_count():
    model = stgcn.build_model(dict(
        type="SkeletonGCN", backbone=dict(type="STGCN", in_channels=3, graph_cfg=dict(layout="coco",
                                                                                       strategy="spatial")),
        cls_head=dict(type="STGCNHead", num_classes=5, in_channels=256)))
    v, k = 17, 3
    plan = [(3, 64, 1), (64, 64, 1), (64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 128, 1),
            (128, 256, 2), (256, 256, 1), (256, 256, 1)]
    t, macs = 20, 0
    for i, (c_in, c_out, s) in enumerate(plan):
        macs += t * v * c_in * k * c_out + k * t * v * v * c_out   # 1x1 to K*C_out, aggregation
        t_out = (t - 1) // s + 1
        macs += t_out * v * c_out * c_out * 9                        # 9x1 temporal conv
        if i and (c_in != c_out or s != 1):
            macs += t_out * v * c_in * c_out                         # residual 1x1
        t = t_out
    assert model_flops(model, 20, 2) == 2 * 2 * macs


def test_unknown_blocks_are_refused():
    model = _tiny_stgcnpp()
    model.backbone.st_gcn_networks.append(model.backbone.st_gcn_networks[0].tcn)
    with pytest.raises(StgcnError, match="no FLOP count for MSTCN blocks"):
        model_flops(model, 8, 1)
