"""Time stgcn against the real mmaction2 1.2.0: the same ST-GCN / ST-GCN++, weights and inputs, one process.

The peer is what a user would otherwise run: mmaction2 1.2.0's ``STGCN`` backbone and ``GCNHead``,
built from the 1.x model configs of the oracle fixtures (``../shared/data/mmaction2_1x/model_*.pt``:
the config's ``model`` dict and a state dict). stgcn builds the same config and loads the peer's state
dict through its 1.x remap (``stgcn.models.remap``). Inputs are real COCO-17 skeletons: the Penn Action
clips mmaction2's own 1.x pipeline produced for the fixtures (``pipeline.pt``, T = 100: 4 videos x 11
sampled clips); a two-person sample pairs two different clips, a one-person sample pads the second
person with zeros as ``FormatGCNInput`` does. Every variant runs once per round, interleaved (peer,
stgcn, ..., peer, ...); the first round is untimed and compares the outputs with the peer's fp32 logits.

Modes: ``peer`` (fp32; the baseline of every ratio), ``stgcn`` fp32 (its blocks run channels-last and,
in eval, padded persons are reused: ``stgcn.models.persons``), ``stgcn-bf16`` (autocast), ``fused`` /
``fused-bf16`` (BN folded, ``stgcn.models.fuse``), ``inductor`` / ``inductor-bf16`` (the fused model
compiled by ``torch.compile`` with frozen weights, as ``Recognizer(backend='inductor')`` runs it; every
person computed; ``--no-inductor`` skips both), ``ort-fp32`` / ``ort-int8`` (the fused model in
onnxruntime, fp32 as ``Recognizer(backend='onnxruntime')`` runs it and static int8, from
``stgcn.inference.export``; every person computed; ``--no-onnxruntime`` skips both). The fp32 targets
count every fp32 mode stgcn offers, onnxruntime fp32 included (the fastest is named). A mode a model
does not offer is reported as such. FLOPs are counted by ``torch.utils.flop_counter`` on the peer's
fp32 run of each case; the fp32 and bf16 matmul ceilings are measured in the same run.

    bash benchmarks/peer_venv.sh                                  # once: the venv with both packages
    benchmarks/.peer-venv/bin/python benchmarks/bench_peer.py     # every case, both models, 2 threads
    benchmarks/.peer-venv/bin/python benchmarks/bench_peer.py --quick --models stgcn

OMP_WAIT_POLICY defaults to PASSIVE (set before torch loads OpenMP; export another value to override).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from peer_timing import (  # noqa: E402
    CPU,
    Variant,
    ceilings_now,
    compare,
    inference,
    time_variants,
    train_step,
)

import stgcn  # noqa: E402
from stgcn.engine.runtime import tune_malloc  # noqa: E402
from stgcn.errors import StgcnError  # noqa: E402
from stgcn.inference.compiled import compile_for_inference  # noqa: E402
from stgcn.models.checkpoint import apply_remap, read_checkpoint  # noqa: E402
from stgcn.models.fuse import fuse_conv_bn  # noqa: E402
from stgcn.models.remap import to_mmaction2_1x  # noqa: E402

DEFAULT_SHARED = ROOT.parent / "shared"
FIXTURES = {"stgcn": "model_stgcn_2d_coco.pt", "stgcnpp": "model_stgcnpp_2d_coco.pt"}
PIPELINES = ("stgcn_joint_2d/val", "stgcn_joint_2d/test")


@dataclass(frozen=True)
class Case:
    key: str
    mode: str  # "train" (forward + backward + SGD step) or "eval" (inference forward)
    batch: int
    real: int  # real persons per sample (of M = 2); 1: the second is zero padding

    def name(self, frames: int) -> str:
        return f"{self.mode} B{self.batch} T{frames} {'2 real' if self.real == 2 else '1 real + pad'}"


CASES = {"train": Case("train", "train", 16, 2), "b1-1p": Case("b1-1p", "eval", 1, 1),
         "b1-2p": Case("b1-2p", "eval", 1, 2), "b16": Case("b16", "eval", 16, 2)}


# ---------------------------------------------------------------- the peer (needs mmaction2 1.x)

def import_peer():
    """mmaction2 1.x's model registry, after stubbing the modules its wheel lacks (issue #2714).

    Raises ImportError (with the reason) when mmaction2 is not installed in this interpreter.
    """
    for name in ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn"):
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.DRN = type("DRN", (), {})
            sys.modules[name] = stub
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules

    register_all_modules()
    return MODELS


class PeerModel(torch.nn.Module):
    """mmaction2 1.x backbone + head with stgcn's call: ``(N, M, T, V, C) -> logits``."""

    def __init__(self, registry, model_cfg: dict) -> None:
        super().__init__()
        self.backbone = registry.build(dict(model_cfg["backbone"]))
        self.cls_head = registry.build(dict(model_cfg["cls_head"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls_head(self.backbone(x))


# ---------------------------------------------------------------- weights and inputs (stgcn only)

def load_fixture(shared: Path, model: str, weights: str | None = None) -> tuple[dict, dict]:
    """(1.x model config, 1.x state dict): the oracle fixture's, or a trained stgcn checkpoint's weights
    in 1.x names (``weights``; ST-GCN only; the head's class count follows the checkpoint)."""
    fixture = torch.load(shared / "data" / "mmaction2_1x" / FIXTURES[model], weights_only=True)
    cfg = {k: dict(v) if isinstance(v, dict) else v for k, v in fixture["model_cfg"].items()}
    if weights is None:
        return cfg, dict(fixture["state_dict"])
    state = to_mmaction2_1x(read_checkpoint(weights)["state_dict"])
    cfg["cls_head"] = dict(cfg["cls_head"], num_classes=state["cls_head.fc.weight"].shape[0])
    return cfg, dict(state)


def build_ours(model_cfg: dict, peer_state: dict) -> torch.nn.Module:
    """stgcn's model of the same 1.x config, with the peer's weights through the 1.x remap."""
    model = stgcn.build_model(dict(model_cfg))
    name, state = apply_remap(peer_state, model, "peer state dict")
    model.load_state_dict(state)
    model.remap_name = name
    return model


def real_persons(shared: Path) -> torch.Tensor:
    """``(P, T, V, C)``: every real (first) person of the 2D ST-GCN joint clips mmaction2's 1.x val and
    test pipelines made from Penn Action videos (T = 100, COCO-17, x, y, score)."""
    data = torch.load(shared / "data" / "mmaction2_1x" / "pipeline.pt", weights_only=True)
    clips = [s["outputs"][p]["inputs"] for s in data["samples"] if s["dim"] == "2d" for p in PIPELINES]
    return torch.cat(clips)[:, 0].contiguous()


def make_batch(persons: torch.Tensor, batch: int, real: int, frames: int, offset: int = 0) -> torch.Tensor:
    """``(N, 2, T, V, C)`` (1.x layout): ``real`` = 2 pairs two different clips per sample, 1 pads the
    second person with zeros; clips are taken in turn from ``offset`` (a stride of 7 mixes videos)."""
    p = persons.shape[0]
    idx = [(offset + 7 * i) % p for i in range(batch * 2)]
    x = persons[idx, :frames].reshape(batch, 2, frames, *persons.shape[2:]).clone()
    if real == 1:
        x[:, 1] = 0
    return x


def to_ours(x: torch.Tensor) -> torch.Tensor:
    """1.x ``(N, M, T, V, C)`` -> stgcn's ``(N, C, T, V, M)``."""
    return x.permute(0, 4, 2, 3, 1).contiguous()


# ---------------------------------------------------------------- the cases

@dataclass
class Setup:
    """Everything one model's cases share: config, weights, the peer registry, cached fast paths."""
    model: str
    cfg: dict
    state: dict
    registry: object
    persons: torch.Tensor
    frames: int
    peer_bf16: bool = False
    int8: bool = True
    threads: int = 2
    weights: str = ""
    remap: str = ""
    onnx: bool = True
    inductor: bool = True
    agreement: dict = field(default_factory=dict)
    _fused: object = None
    _session: object = None
    _session32: object = None
    _onnx32: bytes | None = None
    notes: list[str] = field(default_factory=list)

    def peer(self) -> PeerModel:
        model = PeerModel(self.registry, self.cfg)
        model.load_state_dict(self.state)
        return model

    def fused(self):
        """The BN-folded eval model, or None (with a note) when stgcn does not fold this model."""
        if self._fused is None:
            try:
                self._fused = fuse_conv_bn(build_ours(self.cfg, self.state).eval())
            except StgcnError as err:
                self._fused = False
                self.notes.append(f"fused / ort-int8: not offered for {self.model} ({err})")
        return self._fused or None

    def onnx32(self) -> bytes:
        """The fused model exported to ONNX fp32, once for both onnxruntime modes."""
        if self._onnx32 is None:
            from stgcn.inference.export import onnx_bytes

            example = to_ours(make_batch(self.persons, 1, 1, self.frames))
            self._onnx32 = onnx_bytes(self.fused(), example=example)
        return self._onnx32

    def session32(self):
        """onnxruntime fp32 session of the fused model (what ``Recognizer(backend='onnxruntime')`` runs),
        or None (with a note) when onnxruntime is skipped or fails."""
        if self._session32 is None and self.onnx and self.fused() is not None:
            from stgcn.inference.export import onnx_session

            try:
                self._session32 = onnx_session(self.onnx32(), threads=self.threads)
            except Exception as err:  # a missing extra or an exporter failure: time the other modes
                self._session32 = False
                self.notes.append(f"ort-fp32: not offered for {self.model} ({type(err).__name__}: "
                                  f"{str(err)[:120]})")
        return self._session32 or None

    def session(self):
        """onnxruntime int8 session of the fused model, calibrated on 8 real one- and two-person clips."""
        if self._session is None and self.int8 and self.fused() is not None:
            from stgcn.inference.export import onnx_session, quantize_int8

            calib = [to_ours(make_batch(self.persons, 1, 1 + i % 2, self.frames, offset=3 * i)).numpy()
                     for i in range(8)]
            try:
                data = quantize_int8(self.onnx32(), calib)
            except Exception as err:  # onnxruntime's quantizer: report it, time the other modes
                self.int8 = False
                self.notes.append(f"ort-int8: quantization failed for {self.model} "
                                  f"({type(err).__name__}: {str(err)[:120]})")
                return None
            self._session = onnx_session(data, threads=self.threads)
        return self._session


def variants_for(setup: Setup, case: Case) -> list[Variant]:
    """The peer fp32 first (the baseline), then every mode stgcn offers for this case."""
    x = make_batch(setup.persons, case.batch, case.real, setup.frames)
    ours_x = to_ours(x)
    bf16 = torch.bfloat16
    if case.mode == "train":
        labels = torch.arange(case.batch) % setup.cfg["cls_head"]["num_classes"]
        out = [Variant("peer", train_step(setup.peer(), x, labels))]
        if setup.peer_bf16:
            out.append(Variant("peer-bf16", train_step(setup.peer(), x, labels, bf16), "bf16"))
        out.append(Variant("stgcn", train_step(build_ours(setup.cfg, setup.state), ours_x, labels)))
        out.append(Variant("stgcn-bf16", train_step(build_ours(setup.cfg, setup.state), ours_x, labels, bf16),
                           "bf16"))
        return out
    peer, ours = setup.peer(), build_ours(setup.cfg, setup.state)
    out = [Variant("peer", inference(peer, x))]
    if setup.peer_bf16:
        out.append(Variant("peer-bf16", inference(peer, x, bf16), "bf16"))
    out += [Variant("stgcn", inference(ours, ours_x)),
            Variant("stgcn-bf16", inference(ours, ours_x, bf16), "bf16")]
    fused = setup.fused()
    if fused is not None:
        out += [Variant("fused", inference(fused, ours_x)),
                Variant("fused-bf16", inference(fused, ours_x, bf16), "bf16")]
    if setup.inductor:  # what Recognizer(backend='inductor') runs: the fused model when there is one
        for name, amp in (("inductor", None), ("inductor-bf16", bf16)):
            run = compile_for_inference(setup.fused() or build_ours(setup.cfg, setup.state).eval(), CPU)
            out.append(Variant(name, inference(run, ours_x, amp), "bf16" if amp else "fp32",
                               "every person computed"))
    session32 = setup.session32()
    if session32 is not None:
        feed32 = {session32.get_inputs()[0].name: ours_x.numpy()}
        out.append(Variant("ort-fp32", lambda: torch.from_numpy(session32.run(None, feed32)[0]), "fp32",
                           "every person computed"))
    session = setup.session()
    if session is not None:
        feed = {session.get_inputs()[0].name: ours_x.numpy()}
        out.append(Variant("ort-int8", lambda: torch.from_numpy(session.run(None, feed)[0]), "int8",
                           "every person computed"))
    return out


def count_flops(setup: Setup, case: Case) -> float:
    """FLOPs of the peer's fp32 run of ``case`` (forward; + backward for train), counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode

    model = setup.peer().train(case.mode == "train")
    x = make_batch(setup.persons, case.batch, case.real, setup.frames)
    with FlopCounterMode(display=False) as counter:
        if case.mode == "train":
            model(x).sum().backward()
        else:
            with torch.no_grad():
                model(x)
    return float(counter.get_total_flops())


def effective_flops(case: Case, name: str, flops: float) -> float:
    """FLOPs a variant actually computes: stgcn's eager eval modes skip a padded person."""
    skips = case.mode == "eval" and case.real == 1 and name.startswith(("stgcn", "fused"))
    return flops / 2 if skips else flops


def agreement(setup: Setup) -> dict:
    """Each eval mode against the peer's fp32 on every real clip once: B44 one real person + B22 two."""
    totals: dict[str, dict] = {}
    for case in (Case("agree-1p", "eval", setup.persons.shape[0], 1),
                 Case("agree-2p", "eval", setup.persons.shape[0] // 2, 2)):
        variants = variants_for(setup, case)
        want = variants[0].run()
        for var in variants[1:]:
            d = compare(var.run(), want)
            t = totals.setdefault(var.name, {"abs": 0.0, "rel": 0.0, "agree": 0, "n": 0})
            t.update(abs=max(t["abs"], d["abs"]), rel=max(t["rel"], d["rel"]), agree=t["agree"] + d["agree"],
                     n=t["n"] + d["n"])
    return totals


def run_case(setup: Setup, case: Case, warmup: int, repeats: int) -> dict:
    variants = variants_for(setup, case)
    stats, diffs = time_variants(variants, warmup, repeats)
    return {"case": case, "flops": count_flops(setup, case), "stats": stats, "diffs": diffs,
            "precision": {v.name: v.precision for v in variants}}


# ---------------------------------------------------------------- report

TARGETS = (("train", "fp32", 1.5), ("b1-2p", "fp32", 1.5), ("train", "fastest", 4.0),
           ("b1-1p", "fastest", 4.0), ("b1-2p", "fastest", 4.0), ("b16", "fastest", 6.0))


def print_case_rows(result: dict, frames: int, ceilings: dict) -> None:
    case, stats, flops = result["case"], result["stats"], result["flops"]
    peer = stats["peer"]["median"]
    for name, s in stats.items():
        work = effective_flops(case, name, flops)
        rate = work / s["median"] / 1e9
        ceiling = ceilings.get(result["precision"][name])
        share = f"{100 * rate / ceiling:5.0f}%" if ceiling else "     -"
        d = result["diffs"].get(name)
        diff = f"{d['abs']:9.2e} {d['rel']:8.1e} {d['agree']:>3}/{d['n']:<3}" if d else f"{'(baseline)':>26}"
        print(f"{case.name(frames):<26}{name:<12}{s['median'] * 1e3:>9.1f}"
              f"{s['q1'] * 1e3:>9.1f}..{s['q3'] * 1e3:<8.1f}{s['min'] * 1e3:>8.1f}..{s['max'] * 1e3:<8.1f}"
              f"{peer / s['median']:>6.2f}x{work / 1e9:>8.2f}{rate:>8.0f} {share} {diff}")


def best(stats: dict, fp32_only: bool, precision: dict) -> tuple[str, float]:
    """The fastest stgcn variant (name, median s); fp32 ones only when asked."""
    mine = {n: s["median"] for n, s in stats.items() if not n.startswith("peer")
            and (not fp32_only or precision[n] == "fp32")}
    name = min(mine, key=mine.get)
    return name, mine[name]


def print_targets(results: list[dict], ceilings: dict) -> None:
    by_key = {r["case"].key: r for r in results}
    for key, kind, target in TARGETS:
        r = by_key.get(key)
        if r is None:
            continue
        name, t = best(r["stats"], kind == "fp32", r["precision"])
        peer = r["stats"]["peer"]["median"]
        ratio = peer / t
        verdict = "met" if ratio >= target else "NOT met"
        line = f"  {key:<6} {kind:<8} >= {target:.1f}x: {name} {ratio:.2f}x {verdict}"
        precision, work = r["precision"][name], effective_flops(r["case"], name, r["flops"])
        if ratio < target and ceilings.get(precision):
            floor = work / (ceilings[precision] * 1e9)
            line += (f"; {work / 1e9:.2f} GFLOP at the {precision} ceiling {ceilings[precision]:.0f} GFLOP/s "
                     f"= {floor * 1e3:.1f} ms: at most {peer / floor:.2f}x the peer's {peer * 1e3:.1f} ms")
        print(line)


def report(model: str, setup: Setup, results: list[dict], ceilings: dict) -> None:
    print()
    print(f"== {model}: the 1.x model config of {FIXTURES[model]}, weights {setup.weights}; "
          f"stgcn loads the peer's state dict through the remap '{setup.remap}'")
    print(f"{'case':<26}{'mode':<12}{'median ms':>9}{'IQR ms':>12}{'':8}{'min..max ms':>12}{'':6}"
          f"{'ratio':>7}{'GFLOP':>8}{'GFLOP/s':>8}  ceil  max|diff|  rel     top-1")
    for r in results:
        print_case_rows(r, setup.frames, ceilings)
    for note in setup.notes:
        print("note:", note)
    if setup.agreement:
        print("eval modes against the peer's fp32 on every real clip (44 one-person, 22 two-person samples): "
              + "; ".join(f"{n} top-1 {d['agree']}/{d['n']}, max|diff| {d['abs']:.2e} (rel {d['rel']:.1e})"
                          for n, d in setup.agreement.items()))
    print("targets against the peer (ratio of medians; fastest = the quickest stgcn mode):")
    print_targets(results, ceilings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated of {', '.join(CASES)}")
    parser.add_argument("--models", default="stgcn,stgcnpp", help="comma-separated of stgcn, stgcnpp")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per case (median, IQR)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (>= 1: the comparison)")
    parser.add_argument("--threads", type=int, default=2, help="torch (and onnxruntime) threads")
    parser.add_argument("--frames", type=int, default=100, help="clip length T (at most 100)")
    parser.add_argument("--quick", action="store_true", help="T=32, 2 timed rounds: a smoke run")
    parser.add_argument("--weights", default=None,
                        help="an ST-GCN checkpoint (any layout stgcn loads) for the stgcn model instead of "
                             "the fixture's random weights; its class count is kept")
    parser.add_argument("--peer-bf16", action="store_true", help="also time the peer under bf16 autocast")
    parser.add_argument("--no-int8", action="store_true", help="skip the onnxruntime int8 mode")
    parser.add_argument("--no-inductor", action="store_true",
                        help="skip the inductor modes (torch.compile, frozen weights; compiles per shape)")
    parser.add_argument("--no-onnxruntime", action="store_true",
                        help="skip both onnxruntime modes (fp32 and int8)")
    parser.add_argument("--tune-malloc", action="store_true", help="stgcn's malloc tuning (whole process)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the shared data folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.repeats = min(args.frames, 32), min(args.repeats, 2)
    cases = [CASES[k] for k in args.cases.split(",") if k]
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in FIXTURES] + [k for k in args.cases.split(",") if k not in CASES]
    if bad or args.repeats < 1 or args.warmup < 1 or not 1 <= args.frames <= 100:
        parser.error(f"unknown or invalid: {bad or 'repeats/warmup >= 1, 1 <= frames <= 100'}")
    try:
        registry = import_peer()
    except ImportError as err:
        print(f"bench_peer: mmaction2 1.x is not importable here ({err}); build its venv with "
              "`bash benchmarks/peer_venv.sh` and run this script with benchmarks/.peer-venv/bin/python")
        return 2
    import mmaction

    if args.tune_malloc:
        tune_malloc()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    persons = real_persons(args.shared)
    print(f"stgcn vs mmaction2 {mmaction.__version__}; torch {torch.__version__}; {args.threads} threads; "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; tune_malloc={args.tune_malloc}; "
          f"repeats {args.repeats}, warm-up {args.warmup}; T={args.frames}; load {os.getloadavg()[0]:.2f}; "
          f"{persons.shape[0]} real persons (Penn Action via mmaction2's 1.x pipeline)")
    first = ceilings_now(args.threads)
    outputs = []
    for model in models:
        weights = args.weights if model == "stgcn" else None
        cfg, state = load_fixture(args.shared, model, weights)
        onnx = not args.no_onnxruntime
        setup = Setup(model, cfg, state, registry, persons, args.frames, args.peer_bf16,
                      onnx and not args.no_int8, args.threads, weights or "the fixture's (random)",
                      build_ours(cfg, state).remap_name, onnx, not args.no_inductor)
        results = []
        for case in cases:
            start = time.perf_counter()
            results.append(run_case(setup, case, args.warmup, args.repeats))
            s = results[-1]["stats"]
            print(f"{model} {case.name(args.frames)}: " + ", ".join(
                f"{n} {v['median'] * 1e3:.1f} ms" for n, v in s.items())
                + f"  ({time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.2f})", flush=True)
        if any(c.mode == "eval" for c in cases):
            setup.agreement = agreement(setup)
        outputs.append((model, setup, results))
    last = ceilings_now(args.threads)
    ceilings = {k: max(first[k], last[k]) for k in first if first[k] and last[k]}
    print()
    print("matmul ceiling (square 2048, best of the start and the end of the run): "
          + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in ceilings.items())
          + f" (bf16/fp32 {ceilings['bf16'] / ceilings['fp32']:.2f}x; int8: onnxruntime MatMulInteger)")
    print("stgcn's blocks run channels-last in every mode (its layout, not an option); the peer runs "
          "mmaction2's default contiguous layout")
    print("ratio = peer fp32 median / mode median (same run); GFLOP as torch's FlopCounterMode counts the "
          "peer (train: forward + backward); stgcn's eager eval modes skip a padded person (half the GFLOP); "
          "diff against the peer's fp32 logits on round 0")
    for model, setup, results in outputs:
        report(model, setup, results, ceilings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
