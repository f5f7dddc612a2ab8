"""The GPU code path: same logits and gradients as on the CPU, the fused path, autocast (needs CUDA)."""

import pytest
import torch

import stgcn
from stgcn.models.fuse import fuse_conv_bn
from tests.models.helpers import LAYOUT_V, model_cfg, paired_models, pipeline_like_input, randomize

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

DEVICE = torch.device("cuda")


@pytest.fixture(autouse=True)
def _exact_float32():
    """TF32 matmuls/convolutions would blur the 1e-5 comparisons below."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _rel(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got.cpu() - want.cpu()).abs().max() / want.abs().max())


@pytest.mark.parametrize("layout", ["coco", "ntu-rgb+d"])
def test_cuda_eval_matches_reference_and_fused(reference, layout):
    ours, ref = paired_models(reference, layout)
    ours.eval()
    ref.eval()
    x = pipeline_like_input(3, 40, LAYOUT_V[layout], 1)
    with torch.no_grad():
        want = ref(x)
        got = ours.to(DEVICE)(x.to(DEVICE))
        fused = fuse_conv_bn(ours)(x.to(DEVICE))
    assert _rel(got, want) <= 1e-5
    assert _rel(fused, want) <= 1e-5


def test_cuda_train_step_matches_cpu():
    model = stgcn.build_model(model_cfg("coco"))
    randomize(model)
    x = pipeline_like_input(4, 32, 17, 2, seed=1).double()
    labels = torch.tensor([3, 7, 11, 59])
    grads = {}
    for device in ("cpu", "cuda"):
        m = stgcn.build_model(model_cfg("coco"))
        m.load_state_dict(model.state_dict())
        m.double().to(device).train()
        loss = m.loss(m(x.to(device)), labels.to(device))["loss_cls"]
        loss.backward()
        grads[device] = torch.cat([p.grad.flatten().cpu() for p in m.parameters()])
    err = (grads["cuda"] - grads["cpu"]).norm() / grads["cpu"].norm()
    # float64 on both sides; the network amplifies rounding differences of cuDNN's summation order
    # by ~1e8 (measured on an H100: 2.2e-8), still far below any real discrepancy.
    assert err <= 1e-6, float(err)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cuda_autocast_train_and_fused_eval(dtype):
    model = stgcn.build_model(model_cfg("ntu-rgb+d")).to(DEVICE)
    x = pipeline_like_input(2, 24, 25, 2).to(DEVICE)
    with torch.autocast("cuda", dtype=dtype):
        logits = model(x)
    loss = model.loss(logits.float(), torch.tensor([1, 2], device=DEVICE))["loss_cls"]
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    with torch.no_grad():
        want = model(x)
        with torch.autocast("cuda", dtype=dtype):
            got = fuse_conv_bn(model)(x)
    assert _rel(got.float(), want) <= 5e-2


@pytest.mark.parametrize("name", ["stgcn_3d_ntu", "stgcnpp_2d_coco"])
def test_cuda_matches_mmaction2_1x(name):
    from tests.models.test_mmaction1x import oracle, ours
    d = oracle(name)
    model = stgcn.build_model(d["model_cfg"])
    own = {k: v.shape for k, v in model.state_dict().items()}
    model.load_state_dict(stgcn.models.remap.mmaction2_1x(d["state_dict"], own))
    model.to(DEVICE).eval()
    with torch.no_grad():
        for x, want in zip(d["inputs"], d["logits"], strict=True):
            assert _rel(model(ours(x).to(DEVICE)), want) < 1e-5
