"""The synthetic dataset: deterministic, well-formed for every layout, and learnable."""

import numpy as np
import pytest
import torch
from torch import nn

from stgcn.data import SampleSpec, build_dataset, make_synthetic
from stgcn.errors import StgcnError
from stgcn.graph import Graph

JOINTS = {"openpose-18": 18, "openpose-25": 25, "ntu-rgb+d": 25, "ntu_edge": 24, "coco": 17, "nw-ucla": 20}


def _equal(a, b):
    assert a["split"] == b["split"] and len(a["annotations"]) == len(b["annotations"])
    for x, y in zip(a["annotations"], b["annotations"], strict=True):
        assert x.keys() == y.keys()
        for k in x:
            assert np.array_equal(x[k], y[k]) if isinstance(x[k], np.ndarray) else x[k] == y[k]


def test_deterministic_by_seed():
    _equal(make_synthetic(12, 4, seed=3), make_synthetic(12, 4, seed=3))
    a, b = make_synthetic(12, 4, seed=3), make_synthetic(12, 4, seed=4)
    assert not np.array_equal(a["annotations"][0]["keypoint"], b["annotations"][0]["keypoint"])
    # sample i depends on (seed, i) only, not on how many samples are drawn
    short = make_synthetic(5, 4, seed=3)
    assert np.array_equal(short["annotations"][4]["keypoint"], a["annotations"][4]["keypoint"])


@pytest.mark.parametrize("layout", sorted(JOINTS))
@pytest.mark.parametrize("dims", [2, 3])
def test_well_formed_for_every_layout(layout, dims):
    data = make_synthetic(10, 3, layout=layout, dims=dims, num_person=2, min_frames=5, max_frames=9,
                          val_fraction=0.3)
    v = JOINTS[layout]
    assert data["split"]["train"] == [f"syn_{i:06d}" for i in range(7)] and len(data["split"]["val"]) == 3
    persons = set()
    for i, a in enumerate(data["annotations"]):
        m, t = a["keypoint"].shape[:2]
        persons.add(m)
        assert a["keypoint"].shape == (m, t, v, dims) and a["keypoint"].dtype == np.float32
        assert a["label"] == i % 3 and a["total_frames"] == t and 5 <= t <= 9
        assert np.isfinite(a["keypoint"]).all() and a["img_shape"] == (1080, 1920)
        if dims == 2:
            assert a["keypoint_score"].shape == (m, t, v) and a["keypoint_score"].min() >= 0.6
            assert (a["keypoint"] >= 0).all() and (a["keypoint"][..., 0] < 1920).all()
            assert (a["keypoint"][..., 1] < 1080).all()
        else:
            assert "keypoint_score" not in a and np.abs(a["keypoint"]).max() < 3
    assert persons == {1, 2}


def test_bad_arguments():
    with pytest.raises(StgcnError, match="dims=4 is invalid"):
        make_synthetic(4, 2, dims=4)
    with pytest.raises(StgcnError, match="num_joints=18 but layout 'coco' has 17 joints"):
        make_synthetic(4, 2, num_joints=18)
    with pytest.raises(StgcnError, match="min_frames <= max_frames"):
        make_synthetic(4, 2, min_frames=9, max_frames=3)
    with pytest.raises(StgcnError, match="unknown graph layout .kinect."):
        make_synthetic(4, 2, layout="kinect")


@pytest.mark.parametrize("layout,dims", [("coco", 2), ("ntu-rgb+d", 3), ("nw-ucla", 3)])
def test_classes_shared_across_seeds(layout, dims):
    """Which joints move identifies the class: a nearest-centroid rule fit on one seed transfers."""
    def features(seed):
        anns = make_synthetic(100, 10, layout=layout, dims=dims, seed=seed, val_fraction=0)["annotations"]
        motion = np.stack([a["keypoint"][0].std(axis=0).ravel() for a in anns])
        return motion, np.array([a["label"] for a in anns])

    x, y = features(0)
    xv, yv = features(1)
    centroids = np.stack([x[y == c].mean(axis=0) for c in range(10)])
    predicted = ((xv[:, None] - centroids[None]) ** 2).sum(-1).argmin(axis=1)
    assert (predicted == yv).mean() > 0.9


class TinySTGCN(nn.Module):
    """Two ST-GCN blocks of the project's model (16 and 32 channels) and a linear classifier."""

    def __init__(self, num_classes: int, layout: str = "coco", in_channels: int = 3) -> None:
        super().__init__()
        from stgcn.models.stgcn import STGCNBlock

        self.register_buffer("A", torch.tensor(Graph(layout, "spatial").A))
        k, v = self.A.shape[:2]
        self.data_bn = nn.BatchNorm1d(in_channels * v)
        self.blocks = nn.ModuleList([STGCNBlock(in_channels, 16, (9, k), 1, residual=False),
                                     STGCNBlock(16, 32, (9, k), 2)])
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):  # (N, C, T, V, M)
        n, c, t, v, m = x.shape
        x = self.data_bn(x.permute(0, 4, 3, 1, 2).reshape(n * m, v * c, t))
        x = x.view(n * m, v, c, t).permute(0, 2, 3, 1).contiguous()
        for block in self.blocks:
            x = block(x, self.A)
        return self.fc(x.mean(dim=(2, 3)).view(n, m, -1).mean(dim=1))


def test_tiny_stgcn_learns_it_in_a_few_steps():
    torch.manual_seed(0)
    np.random.seed(0)
    spec = SampleSpec(num_joints=17, in_channels=3, num_classes=10, num_person=1, layout="coco")

    def pipeline(test_mode):
        return [dict(type="UniformSampleFrames", clip_len=16, test_mode=test_mode), dict(type="PoseDecode"),
                dict(type="FormatGCNInput", num_person=1), dict(type="PoseNormalize"),
                dict(type="Collect", keys=["keypoint", "label"]), dict(type="ToTensor", keys=["keypoint"])]

    train = build_dataset(dict(type="SyntheticPoseDataset", num_samples=160, pipeline=pipeline(False)),
                          spec=spec)
    val = build_dataset(dict(type="SyntheticPoseDataset", num_samples=100, split="val",
                             pipeline=pipeline(True)), spec=spec, test_mode=True)
    model = TinySTGCN(10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    loader = torch.utils.data.DataLoader(train, batch_size=16, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    for _ in range(5):  # 50 steps
        for batch in loader:
            loss = nn.functional.cross_entropy(model(batch["keypoint"]), batch["label"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    # Normalised coordinates vary by ~1e-3, so after only 50 steps the running variances still carry
    # their initial 1.0: recompute the BN statistics over the training set (precise BN) first.
    with torch.no_grad():
        for bn in (m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
            bn.reset_running_stats()
            bn.momentum = None
        for batch in torch.utils.data.DataLoader(train, batch_size=16):
            model(batch["keypoint"])
        model.eval()
        batch = next(iter(torch.utils.data.DataLoader(val, batch_size=100)))
        accuracy = (model(batch["keypoint"]).argmax(dim=1) == batch["label"]).float().mean().item()
    assert accuracy > 0.5  # chance is 0.1
