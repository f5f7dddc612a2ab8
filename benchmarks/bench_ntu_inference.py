"""Inference on real NTU RGB+D clips: the reference against stgcn, with and without padded-person reuse.

Converts the raw ``.skeleton`` files in ``--raw`` as mmaction2 0.x does (two bodies, a missing second
body all zeros), runs the seed 3D config's test pipeline (300 frames, M = 2), and times batch-1
inference over every clip, interleaved, as ``tools/test.py`` runs it: the reference oracle, stgcn's
BN-folded model computing every person, and the same model reusing the features of padded persons
(the default). Prints how many clips have a padded second person, the ratios, and the largest logit
difference of each against the reference at identical weights.

    python benchmarks/bench_ntu_inference.py                 # ../shared/data/ntu_raw_samples
    python benchmarks/bench_ntu_inference.py --raw DIR       # any folder of NTU .skeleton files
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_model.py

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_model import DEFAULT_REFERENCE, load_reference  # noqa: E402

from stgcn import build_model  # noqa: E402
from stgcn.data.convert.ntu import convert_file  # noqa: E402
from stgcn.data.transforms import build_pipeline  # noqa: E402
from stgcn.engine.config import load_config  # noqa: E402
from stgcn.models.fuse import fuse_conv_bn  # noqa: E402
from tests.models.helpers import randomize  # noqa: E402

DEFAULT_RAW = ROOT.parent / "shared" / "data" / "ntu_raw_samples" / "skeletons"
DEFAULT_CONFIG = ROOT / "configs" / "skeleton" / "stgcn" / "stgcn_80e_ntu60_xsub_keypoint_3d.py"


def load_clips(raw: Path, pipeline: list, limit: int | None = None) -> list[torch.Tensor]:
    """Each ``.skeleton`` file under ``raw`` through the converter and the test pipeline: (1, C, T, V, M)."""
    files = sorted(raw.rglob("*.skeleton"))[:limit]
    if not files:
        sys.exit(f"bench_ntu_inference: no .skeleton files under {raw}; pass --raw DIR")
    compose = build_pipeline(pipeline)
    clips = []
    for path in files:
        keypoint = convert_file(path)
        sample = compose(dict(keypoint=keypoint, total_frames=keypoint.shape[1], label=0,
                              frame_dir=path.stem, start_index=0, modality="Pose"))
        clips.append(torch.as_tensor(sample["keypoint"])[None])
    return clips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--raw", type=Path, default=DEFAULT_RAW, help="folder of NTU .skeleton files")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="an ntu-rgb+d config")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes over all clips (median)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--clips", type=int, default=None, help="only the first N files (sorted by name)")
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE, help="the oracle's file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(str(args.config))
    clips = load_clips(args.raw, cfg["data"]["test"]["pipeline"], args.clips)
    padded = sum(int(not clip[..., 1:].any()) for clip in clips)

    torch.manual_seed(0)
    layout = cfg["model"]["backbone"]["graph_cfg"]["layout"]
    ref = load_reference(args.reference).Reference(cfg["model"]["cls_head"]["num_classes"], 3, layout)
    randomize(ref)
    ours = build_model(cfg["model"])
    ours.load_state_dict(ref.state_dict())
    ref.eval()
    reuse = fuse_conv_bn(ours.eval())
    every = fuse_conv_bn(ours)
    every.skip_padded_persons = False
    models = {"ref": ref, "fused, every person": every, "fused, padding reused": reuse}

    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        logits = {name: torch.cat([m(x) for x in clips]) for name, m in models.items()}  # + warm-up
        for _ in range(args.repeats):
            for name, model in models.items():
                start = time.perf_counter()
                for x in clips:
                    model(x)
                times[name].append(time.perf_counter() - start)
    print(f"{len(clips)} clips from {args.raw.name}/ through {args.config.name}'s test pipeline, "
          f"input {tuple(clips[0].shape)}; {padded} with a padded second person; "
          f"{args.threads} threads, median of {args.repeats} passes")
    ref_time = statistics.median(times["ref"])
    scale = logits["ref"].abs().max()
    for name in models:
        t = statistics.median(times[name])
        diff = float((logits[name] - logits["ref"]).abs().max() / scale)
        print(f"  {name:<24} {t * 1e3 / len(clips):7.1f} ms/clip   ref/this {ref_time / t:5.2f}x   "
              f"logits max rel diff {diff:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
