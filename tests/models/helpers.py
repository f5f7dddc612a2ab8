"""Model configs and oracle-pairing helpers shared by the model tests."""

import numpy as np
import torch

import stgcn

LAYOUT_V = {"coco": 17, "ntu-rgb+d": 25}


def model_cfg(layout="coco", num_classes=60, in_channels=3, **backbone):
    return dict(
        type="SkeletonGCN",
        backbone=dict(type="STGCN", in_channels=in_channels, edge_importance_weighting=True,
                      graph_cfg=dict(layout=layout, strategy="spatial"), **backbone),
        cls_head=dict(type="STGCNHead", num_classes=num_classes, in_channels=256,
                      loss_cls=dict(type="CrossEntropyLoss")),
        train_cfg=None, test_cfg=None)


def randomize(module, seed=0):
    """Give every float tensor (except A) non-trivial values so that parity means something."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in module.state_dict().items():
            if value.dtype != torch.float32 or key.endswith(".A"):
                continue
            noise = torch.rand(value.shape, generator=gen)
            if "running_var" in key:
                value.copy_(0.5 + noise)
            elif key.endswith("running_mean") or key.endswith("bias"):
                value.add_(0.1 * (noise - 0.5))
            elif "edge_importance" in key or (key.endswith("weight") and value.dim() == 1):
                value.copy_(0.5 + noise)
            else:
                value.mul_(0.5 + noise)


def paired_models(reference, layout):
    ref = reference.Reference(60, 3, layout)
    randomize(ref)
    ours = stgcn.build_model(model_cfg(layout))
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def pipeline_like_input(batch, frames, num_joints, persons, seed=0):
    """(N, 3, T, V, 2) as the 2D pipeline produces: persons beyond ``persons`` padded, then -0.5."""
    rng = np.random.default_rng(seed)
    x = np.zeros((batch, 3, frames, num_joints, 2), np.float32)
    x[..., :persons] = rng.normal(size=(batch, 3, frames, num_joints, persons))
    x[..., persons:] = -0.5
    return torch.from_numpy(x)
