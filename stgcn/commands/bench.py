"""`stgcn bench CONFIG`: time the config's model on this machine (random inputs of the config's shape).

Reports milliseconds per batch, samples/s and achieved GFLOP/s for the eval forward (unfused, and
BN-folded with --fuse-conv-bn), optionally the train step (--train: forward + backward + SGD) and
autocast (--amp). Every person is real unless --padded-persons (single-actor clips). For a
comparison against the reference implementation use benchmarks/bench_model.py.

CPU runtime notes (measured, see benchmarks/README.md): on a shared machine start the process with
OMP_WAIT_POLICY=PASSIVE (it must be set before torch is imported), and --tune-malloc keeps freed
activation memory in the heap instead of unmapping it, which saves the page faults of every large
allocation.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time

import torch

from stgcn.engine.runtime import tune_malloc
from stgcn.errors import StgcnError
from stgcn.models.stgcn import STGCNBlock
from stgcn.models.stgcnpp import GCNBlock, UnitTCN


def _conv_macs(conv: torch.nn.Conv2d, t: int, v: int) -> tuple[int, int]:
    """Multiply-adds of a (k x 1) conv over ``t`` frames and ``v`` joints, and its output length."""
    (kt, kv), stride, pad, dil = conv.kernel_size, conv.stride[0], conv.padding[0], conv.dilation[0]
    t_out = (t + 2 * pad - dil * (kt - 1) - 1) // stride + 1
    return t_out * v * conv.out_channels * (conv.in_channels // conv.groups) * kt * kv, t_out


def _graph_macs(gcn: torch.nn.Module, t: int, v: int) -> int:
    """Graph conv as the reference computes it: the 1x1 conv, then a dense (V x V) product per partition
    on the wider side ('pre': after the conv, ``K*C_out`` channels; 'post': before it, ``K*C_in``)."""
    conv = gcn.conv
    side = conv.out_channels if gcn.conv_pos == "pre" else conv.in_channels
    return _conv_macs(conv, t, v)[0] + t * v * v * side


def _temporal_macs(tcn: torch.nn.Module, t: int, v: int) -> tuple[int, int]:
    """An ST-GCN++ ``unit_tcn`` or ``mstcn``: multiply-adds and output length."""
    if isinstance(tcn, UnitTCN):
        return _conv_macs(tcn.conv, t, v)
    macs, t_out = 0, t
    for branch in tcn.branches:
        if isinstance(branch, torch.nn.Conv2d):  # the plain strided 1x1 branch
            m, t_out = _conv_macs(branch, t, v)
        else:  # 1x1 conv, BN, ReLU, then a temporal conv or a max pool (no multiply-adds)
            m = _conv_macs(branch[0], t, v)[0]
            tail = branch[3]
            if isinstance(tail, UnitTCN):
                tm, t_out = _conv_macs(tail.conv, t, v)
                m += tm
            else:
                k, s, p = tail.kernel_size[0], tail.stride[0], tail.padding[0]
                t_out = (t + 2 * p - k) // s + 1
        macs += m
    return macs + _conv_macs(tcn.transform[2], t_out, v)[0], t_out


def _block_macs(block: torch.nn.Module, t: int, v: int) -> tuple[int, int]:
    if not isinstance(block, (STGCNBlock, GCNBlock)):
        raise StgcnError(f"stgcn bench: no FLOP count for {type(block).__name__} blocks")
    macs = _graph_macs(block.gcn, t, v)
    if isinstance(block, STGCNBlock):
        m, t_out = _conv_macs(block.tcn[2], t, v)
        residual = block.residual[0] if block.residual_mode == "conv" else None
    else:
        if block.gcn.down is not None:
            macs += _conv_macs(block.gcn.down[0], t, v)[0]
        m, t_out = _temporal_macs(block.tcn, t, v)
        residual = block.residual.conv if block.residual_mode == "conv" else None
    if residual is not None:
        m += _conv_macs(residual, t, v)[0]
    return macs + m, t_out


def model_flops(model: torch.nn.Module, frames: int, persons: int) -> float:
    """Forward FLOPs (2 x multiply-adds) of one sample's backbone, counted block by block from its
    modules: convolutions and the dense graph aggregation (BatchNorm, ReLU, pooling and the classifier
    are not counted)."""
    v, t, macs = model.backbone.num_node, frames, 0
    for block in model.backbone.st_gcn_networks:
        m, t = _block_macs(block, t, v)
        macs += m
    return 2.0 * macs * persons


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file (its `model` dict is timed)")
    parser.add_argument("--checkpoint", help="load these weights first (else random init)")
    parser.add_argument("--batch-size", type=int, default=1, help="samples per batch (default 1)")
    parser.add_argument("--frames", type=int, default=300, help="frames T per sample (default 300)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--fuse-conv-bn", action="store_true", help="also time the BN-folded model")
    parser.add_argument("--compile", action="store_true",
                        help="also time the eval model as backend 'inductor' runs it (torch.compile with "
                             "frozen weights; the compilation is reported apart)")
    parser.add_argument("--train", action="store_true", help="also time a train step")
    parser.add_argument("--amp", choices=("bf16", "fp16"), help="run under autocast")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    parser.add_argument("--tune-malloc", action="store_true", help="call tune_malloc() first (CPU)")
    parser.add_argument("--padded-persons", action="store_true",
                        help="single-actor clips: persons after the first padded as FormatGCNInput pads "
                             "them, which eval does not recompute (default: every person real)")


def _timed(fn, device: torch.device, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(args: argparse.Namespace) -> int:
    from stgcn import build_model
    from stgcn.engine.config import load_config
    from stgcn.inference.compiled import compile_for_inference
    from stgcn.models.fuse import fuse_conv_bn

    if args.batch_size < 1 or args.frames < 1 or args.repeats < 1:
        raise StgcnError("--batch-size, --frames and --repeats must be >= 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise StgcnError("--device cuda: no CUDA device is visible; use --device cpu")
    if args.tune_malloc and not tune_malloc():
        print("note: --tune-malloc needs glibc; ignored")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = build_model(load_config(args.config)["model"])
    if args.checkpoint:
        from stgcn.models.checkpoint import load_checkpoint
        load_checkpoint(model, args.checkpoint, map_location="cpu", strict=True)
    model.to(device)
    n, m = args.batch_size, model.cls_head.num_person
    x = torch.randn(n, model.backbone.in_channels, args.frames, model.backbone.num_node, m, device=device)
    if args.padded_persons:
        x[..., 1:] = 0.0
    labels = torch.randint(0, model.cls_head.num_classes, (n,), device=device)
    flops = model_flops(model, args.frames, m) * n
    amp = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    autocast = (lambda: torch.autocast(device.type, dtype=amp)) if amp else contextlib.nullcontext

    def forward(module):
        def fn():
            with torch.inference_mode(), autocast():
                module(x)
        return fn

    rows = []
    model.eval()
    rows.append(("eval", _timed(forward(model), device, args.repeats, args.warmup), flops))
    if args.fuse_conv_bn:
        fused = fuse_conv_bn(model)
        rows.append(("eval fused", _timed(forward(fused), device, args.repeats, args.warmup), flops))
    if args.compile:
        compiled = compile_for_inference(fuse_conv_bn(model), device)
        start = time.perf_counter()
        forward(compiled)()
        print(f"compiled in {time.perf_counter() - start:.1f} s")
        rows.append(("eval inductor", _timed(forward(compiled), device, args.repeats, args.warmup), flops))
    if args.train:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=True)
            with autocast():
                logits = model(x)
            model.loss(logits.float(), labels)["loss_cls"].backward()
            opt.step()
        rows.append(("train step", _timed(step, device, args.repeats, args.warmup), 3 * flops))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu, {torch.get_num_threads()} threads"
    print(f"{args.config}: batch {n} x T{args.frames} x M{m} on {where}"
          + (f", autocast {args.amp}" if amp else "")
          + (", persons after the first padded (GFLOP/s count every person)" if args.padded_persons else ""))
    params = sum(p.numel() for p in model.parameters())
    print(f"  model: {params / 1e6:.2f} M parameters, {flops / n / 1e9:.2f} GFLOPs per sample (forward)")
    for name, seconds, work in rows:
        print(f"  {name:<13} {seconds * 1e3:9.1f} ms/batch  {n / seconds:8.1f} samples/s  "
              f"{work / seconds / 1e9:7.1f} GFLOP/s")
    return 0
