"""ST-GCN under bf16 autocast on the CPU: activations stay bf16 from block to block."""

import torch

import stgcn
from tests.models.helpers import model_cfg, pipeline_like_input


def test_graph_conv_outputs_stay_bf16_under_autocast():
    """The aggregate-first blocks (0, 4, 7) add their bias table in the activation's dtype, so no
    BatchNorm, ReLU or cast after a graph conv runs in fp32."""
    model = stgcn.build_model(model_cfg("coco", num_classes=5))
    seen = {}
    for i, block in enumerate(model.backbone.st_gcn_networks):
        block.gcn.register_forward_hook(lambda mod, args, out, i=i: seen.__setitem__(i, out.dtype))
    x = pipeline_like_input(2, 8, 17, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(x)
    model.loss(logits.float(), torch.tensor([1, 3]))["loss_cls"].backward()
    assert seen == {i: torch.bfloat16 for i in range(10)}
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
