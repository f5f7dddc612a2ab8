"""benchmarks/bench_peer.py and peer_timing.py: the stgcn-side pieces (inputs, weights, statistics,
comparison) on stgcn alone; the run against mmaction2 1.x only where that package is importable (its
venv, not CI)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def load_bench():
    if "bench_peer" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_peer", ROOT / "benchmarks" / "bench_peer.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_peer"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_peer"]


def shared() -> Path:
    return shared_path("data", "mmaction2_1x", "pipeline.pt").parents[2]


def test_real_persons_and_batches():
    bench = load_bench()
    persons = bench.real_persons(shared())
    assert persons.shape == (44, 100, 17, 3)  # 4 Penn clips x (1 val + 10 test) clips, first person
    assert bool((persons[:, :, :, 2] > 0).any()) and float(persons[:, :, :, :2].abs().max()) <= 1.0
    one = bench.make_batch(persons, 3, real=1, frames=40)
    assert one.shape == (3, 2, 40, 17, 3) and not one[:, 1].any() and bool(one[:, 0].any())
    two = bench.make_batch(persons, 16, real=2, frames=100)
    assert two[:, 1].abs().sum((1, 2, 3)).min() > 0
    assert not torch.equal(two[:, 0], two[:, 1])  # the two persons of a sample are different clips
    assert torch.equal(bench.to_ours(two)[..., 1], two[:, 1].permute(0, 3, 1, 2))


@pytest.mark.parametrize("model", ["stgcn", "stgcnpp"])
def test_peer_weights_through_the_remap_give_the_peers_logits(model):
    """The fixture's logits were computed by mmaction2 1.2.0 itself; stgcn built as the benchmark
    builds it must reproduce them, or the benchmark would time a different network."""
    bench = load_bench()
    fixture = torch.load(shared() / "data" / "mmaction2_1x" / bench.FIXTURES[model], weights_only=True)
    cfg, state = bench.load_fixture(shared(), model)
    ours = bench.build_ours(cfg, state).eval()
    assert ours.remap_name == "mmaction2 1.x"
    for x, want in zip(fixture["inputs"], fixture["logits"], strict=True):
        got = bench.inference(ours, bench.to_ours(x))()
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3 * float(want.abs().max()))


def test_spread_and_compare():
    load_bench()
    bench = sys.modules["peer_timing"]  # the timing helpers bench_peer imports
    s = bench.spread([0.5, 0.1, 0.3, 0.2, 0.4])
    got = (s["median"], s["q1"], s["q3"], s["min"], s["max"], s["n"])
    assert got == pytest.approx((0.3, 0.2, 0.4, 0.1, 0.5, 5))
    assert bench.spread([2.0])["q1"] == 2.0
    want = torch.tensor([[1.0, 4.0, 0.0], [3.0, 0.0, 1.0]])
    got = torch.tensor([[1.0, 3.5, 3.9], [3.0, 0.0, 1.0]])
    d = bench.compare(got, want)
    assert (d["abs"], d["rel"], d["agree"], d["n"]) == pytest.approx((3.9, 3.9 / 4.0, 1, 2))  # row 0 flips


def test_interleaved_timing_on_stgcn_alone():
    """time_variants with stgcn's own modes (fp32 baseline, fused, a train step) on a tiny clip."""
    bench = load_bench()
    persons = bench.real_persons(shared())
    cfg, state = bench.load_fixture(shared(), "stgcn")
    x = bench.to_ours(bench.make_batch(persons, 2, real=1, frames=12))
    ours = bench.build_ours(cfg, state)
    fused = bench.fuse_conv_bn(bench.build_ours(cfg, state).eval())
    trained = bench.build_ours(cfg, state)
    before = trained.cls_head.fc.weight.clone()
    variants = [bench.Variant("stgcn", bench.inference(ours, x)),
                bench.Variant("fused", bench.inference(fused, x)),
                bench.Variant("train", bench.train_step(trained, x, torch.tensor([0, 1])))]
    stats, diffs = bench.time_variants(variants, warmup=1, repeats=2)
    assert set(stats) == {"stgcn", "fused", "train"} and all(s["n"] == 2 for s in stats.values())
    assert diffs["fused"]["rel"] < 1e-4 and diffs["fused"]["agree"] == 2
    assert not torch.equal(trained.cls_head.fc.weight, before)  # three SGD steps ran


def test_against_mmaction2_when_importable():
    if importlib.util.find_spec("mmaction") is None:
        pytest.skip("mmaction2 1.x is not installed here (build benchmarks/.peer-venv with "
                    "benchmarks/peer_venv.sh to run the peer benchmark)")
    shared()
    script = str(ROOT / "benchmarks" / "bench_peer.py")
    args = ["--quick", "--frames", "8", "--repeats", "1", "--threads", "1", "--cases", "b1-1p,b1-2p",
            "--no-int8"]
    proc = subprocess.run([sys.executable, script, *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "targets against the peer" in proc.stdout and "== stgcnpp" in proc.stdout


def test_without_mmaction2_the_script_says_what_to_build(capsys):
    if importlib.util.find_spec("mmaction") is not None:
        pytest.skip("mmaction2 is importable here; the missing-peer message cannot be shown")
    assert load_bench().main(["--quick"]) == 2
    assert "benchmarks/peer_venv.sh" in capsys.readouterr().out
