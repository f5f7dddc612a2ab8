"""Skeleton datasets: PoseDataset (mmaction2 0.x/1.x annotation files), RepeatDataset, the synthetic
quick-start dataset, and `build_dataset` with its one `DATASETS` table.

Annotation files are a plain list of sample dicts (0.x) or `{'split': {name: [ids]}, 'annotations':
[...]}` (1.x / PYSKL), or a packed directory (`stgcn pack`). A sample holds `frame_dir`, `label`,
`total_frames`, `keypoint [M, T, V, C]` and optionally `keypoint_score [M, T, V]` (SPEC §1.6). Samples
are checked once at load against the model's `SampleSpec`, so a mismatch fails with a one-line message
naming the file and the sample instead of a shape error deep inside the model.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

from stgcn.data.packed import PackedAnnotations, find_packed, unpack_layout
from stgcn.data.safe_pickle import load_pickle
from stgcn.data.samples import ArrayMeta, find_problems, sample_name
from stgcn.data.synthetic import make_synthetic
from stgcn.data.transforms import build_pipeline
from stgcn.errors import StgcnError, did_you_mean
from stgcn.registry import build_from_table

NAN_POLICIES = ("error", "zero")
_log = logging.getLogger("stgcn")


def _warn_split_mismatch(source: str, split: str, wanted: set, found: list) -> None:
    """A split naming samples the file lacks, or samples sharing a name, is reported (never silent):
    the first shrinks the split, the second makes one name count several times."""
    unique = set(found)
    missing = wanted - unique
    if missing:
        warnings.warn(f"{source}: split {split!r} names {len(missing)} samples the file does not hold "
                      f"(e.g. {sorted(map(str, missing))[0]!r}); they are left out", stacklevel=3)
    if len(found) > len(unique):
        dup, _ = Counter(found).most_common(1)[0]
        warnings.warn(f"{source}: split {split!r}: {len(found) - len(unique)} samples share a "
                      f"frame_dir with another (e.g. {dup!r}); each is used", stacklevel=3)


@dataclass(frozen=True)
class SampleSpec:
    """What the model expects of each sample; None fields are not checked."""

    num_joints: int | None = None
    in_channels: int | None = None
    num_classes: int | None = None
    num_person: int | None = None
    layout: str | dict | None = None

    @property
    def layout_name(self) -> str:
        return self.layout if isinstance(self.layout, str) else "custom"

    @classmethod
    def from_model_config(cls, model_cfg: dict) -> SampleSpec:
        """Read V, C, classes and persons from a `SkeletonGCN` or `RecognizerGCN` model config dict."""
        backbone, head = model_cfg.get("backbone", {}), model_cfg.get("cls_head", {})
        layout = backbone.get("graph_cfg", {}).get("layout")
        num_joints = None
        if layout is not None:
            from stgcn.graph import get_layout  # the graph owns the layout table

            num_joints = get_layout(layout).num_node
        # 1.x / PYSKL (RecognizerGCN): the backbone says how many persons; GCNHead takes its count from it
        persons = backbone.get("num_person", 2) if model_cfg.get("type") == "RecognizerGCN" else \
            head.get("num_person", 2)
        return cls(num_joints, backbone.get("in_channels"), head.get("num_classes"), persons, layout)


def _open(ann_file: object, source: str) -> tuple[Sequence, dict | None, str]:
    """(records, split dict or None, the file read): a packed directory when `find_packed` gives one."""
    if isinstance(ann_file, (list, dict)):
        return (*unpack_layout(ann_file, source), source)
    packed, stale = find_packed(ann_file)
    if packed is not None:
        records = PackedAnnotations(packed)
        return records, records.split, str(packed)
    if stale:
        warnings.warn(f"{ann_file}.packed is not used: {stale}; reading {ann_file} instead (re-run "
                      f"`stgcn pack {ann_file}` to pack it again)", stacklevel=3)
    return (*unpack_layout(load_pickle(ann_file), source), str(ann_file))


def _unknown(kind: str, name: object, valid: Sequence[str], where: str) -> StgcnError:
    hint = did_you_mean(name, valid)
    return StgcnError(f"{where}: unknown {kind} {name!r}{hint}; available: {', '.join(map(str, valid))}")


def _summary(records: Sequence, i: int) -> object:
    """Sample i as the rules see it: a packed sample's arrays become `ArrayMeta` (nothing is read)."""
    if not isinstance(records, PackedAnnotations):
        return records[i]
    m, t = records.shape(i)
    item = records.scalars(i)
    item["keypoint"] = ArrayMeta((m, t, records.num_joints, records.num_channels),
                                 np.dtype(records.meta["fields"]["keypoint"]))
    if "keypoint_score" in records.fields:
        item["keypoint_score"] = ArrayMeta((m, t, records.num_joints),
                                           np.dtype(records.meta["fields"]["keypoint_score"]))
    return item


class PoseDataset(Dataset):
    """Skeleton samples from an annotation file, run through a pipeline of transforms.

    `ann_file` is a .pkl (plain list, or split dict with `split=` naming the part to use), a packed
    directory, or in-memory annotations; a `<ann_file>.packed/` beside a .pkl is read instead of it
    while the .pkl is the file it was packed from (`find_packed`; `.read_from` names the file read,
    logged when it is not `ann_file`). Items are the pipeline's Collect'ed dicts, e.g.
    `{'keypoint': float32 tensor (C, T, V, M), 'label': int}`. `.labels`, `.frame_dirs`: dataset order.
    """

    def __init__(self, ann_file: str | os.PathLike | list | dict, pipeline: Sequence[dict],
                 split: str | None = None, data_prefix: str = "", test_mode: bool = False,
                 num_classes: int | None = None, nan_policy: str = "error", start_index: int = 0,
                 modality: str = "Pose", spec: SampleSpec | None = None) -> None:
        self.source = f"<{type(self).__name__}>" if isinstance(ann_file, (list, dict)) else str(ann_file)
        if nan_policy not in NAN_POLICIES:
            raise _unknown("nan_policy", nan_policy, NAN_POLICIES, self.source)
        self.ann_file, self.data_prefix, self.test_mode = ann_file, data_prefix, test_mode
        self.start_index, self.modality, self.nan_policy = start_index, modality, nan_policy
        self.spec = spec or SampleSpec()
        self.num_classes = num_classes if num_classes is not None else self.spec.num_classes
        self.pipeline = build_pipeline(pipeline)
        self.records, splits, self.read_from = _open(ann_file, self.source)
        if self.read_from != self.source:
            _log.info("%s: reading %s", self.source, self.read_from)
        self.indices = self._select(split, splits)
        self._zeroed: set[int] = set()
        self._check_samples()
        self.labels, self.frame_dirs = self._listed()
        self._output_checked = False

    def _listed(self) -> tuple[list[int], list[str]]:
        """(labels, frame_dirs) of the selected samples, dataset order."""
        if isinstance(self.records, PackedAnnotations):
            labels, names = self.records.labels, self.records.frame_dirs  # already int / str
            return [labels[i] for i in self.indices], [names[i] for i in self.indices]
        return ([int(self.records[i]["label"]) for i in self.indices],
                [str(self.records[i]["frame_dir"]) for i in self.indices])

    def _field(self, i: int, key: str) -> object:
        if isinstance(self.records, PackedAnnotations):
            return self.records.labels[i] if key == "label" else self.records.frame_dirs[i]
        return self.records[i][key]

    def _select(self, split: str | None, splits: dict | None) -> list[int]:
        if split is None:
            if splits is not None:
                raise StgcnError(f"{self.source}: the file has splits {sorted(splits)}; set split=<name> "
                                 "in the dataset config")
            indices = list(range(len(self.records)))
        elif splits is None:
            raise StgcnError(f"{self.source}: split={split!r} was given but the file is a plain list "
                             "without splits; remove `split` from the dataset config")
        elif split not in splits:
            raise _unknown("split", split, sorted(splits), self.source)
        else:
            wanted = set(splits[split])
            records = self.records
            if isinstance(records, PackedAnnotations):
                ids = records.ids()
            else:
                ids = [r.get("filename", r.get("frame_dir")) if isinstance(r, dict) else None
                       for r in records]
                nameless = [i for i, key in enumerate(ids) if key is None]
                if nameless:  # no split can name them: they would be dropped without a word
                    i = nameless[0]
                    raise StgcnError(f"{self.source}: sample {sample_name(records[i], i)}: field 'frame_dir' "
                                     f"is missing, so no split can name it ({len(nameless)} such samples); "
                                     "add 'frame_dir' to every sample")
            indices = [i for i, key in enumerate(ids) if key in wanted]
            _warn_split_mismatch(self.source, split, wanted, [ids[i] for i in indices])
        if not indices:
            raise StgcnError(f"{self.source}: no samples" + (f" in split {split!r}" if split else "")
                             + "; check the annotation file and the split name")
        return indices

    def _to_check(self) -> list[int]:
        """The samples to run the rules on: all, except in packs whose samples `stgcn pack` checked
        already, where only the model-dependent rules (V, label range) can still fail."""
        records = self.records
        if not (isinstance(records, PackedAnnotations) and records.rules_checked):
            return self.indices
        if self.spec.num_joints not in (None, records.num_joints):
            return self.indices
        if self.num_classes is None:
            return []
        labels = np.asarray(records.labels)[self.indices]
        return np.asarray(self.indices)[labels >= self.num_classes].tolist()

    def _check_samples(self) -> None:
        """Every selected sample's keys, types, dtypes and shapes (metadata only) against the rules."""
        found = find_problems(((i, _summary(self.records, i)) for i in self._to_check()),
                              self.spec.num_joints, self.num_classes)
        if found:
            name, problem = found[0]
            more = (f" (+{len(found) - 1} more; `stgcn validate {self.source}` lists them)"
                    if len(found) > 1 else "")
            raise StgcnError(f"{self.source}: {problem.message(name)}{more}")
        self._check_finite()

    def _check_finite(self) -> None:
        if isinstance(self.records, PackedAnnotations):
            bad = sorted(set(self.records.nonfinite) & set(self.indices))
        else:
            bad = [i for i in self.indices if not all(
                np.isfinite(self.records[i][k]).all() for k in ("keypoint", "keypoint_score")
                if k in self.records[i])]
        if not bad:
            return
        name = self._field(bad[0], "frame_dir")
        if self.nan_policy == "error":
            raise StgcnError(f"{self.source}: sample {name} has NaN/inf values ({len(bad)} samples "
                             "affected); fix the data or set nan_policy='zero' in the dataset config")
        joints = sum(int(_nonfinite_joints(self.records[i]).sum()) for i in bad)
        warnings.warn(f"{self.source}: {joints} joints with NaN/inf values in {len(bad)} samples are set "
                      "to 0 with score 0 (nan_policy='zero')", stacklevel=3)
        self._zeroed = set(bad)

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict:
        """A spawned worker's copy: packed records travel as their path, the per-sample lists are rebuilt."""
        state = dict(self.__dict__)
        if isinstance(self.records, PackedAnnotations):
            state.update(labels=None, frame_dirs=None, indices=np.asarray(self.indices, np.int64))
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.labels is None:
            self.indices = self.indices.tolist()
            self.labels, self.frame_dirs = self._listed()

    def prepare(self, idx: int) -> dict:
        """The results dict for sample idx before the pipeline: a private copy of that one sample."""
        i = self.indices[idx]
        item = self.records[i]
        results = {k: np.array(v) if isinstance(v, np.ndarray) else copy.deepcopy(v) for k, v in item.items()}
        results["label"] = int(results["label"])
        if i in self._zeroed:
            bad = _nonfinite_joints(results)
            results["keypoint"][bad] = 0
            if "keypoint_score" in results:
                results["keypoint_score"][bad] = 0
        if self.data_prefix:
            for key in ("frame_dir", "filename"):
                if key in results:
                    results[key] = os.path.join(self.data_prefix, results[key])
        results.setdefault("start_index", self.start_index)
        results["modality"] = self.modality
        return results

    def __getitem__(self, idx: int) -> dict:
        out = self.pipeline(self.prepare(idx))
        if not self._output_checked:
            self._check_output(out, self.frame_dirs[idx])
            self._output_checked = True
        return out

    def _check_output(self, out: dict | None, name: str) -> None:
        """Channels and persons of the first item produced against the model (C vs in_channels, M)."""
        x = out.get("keypoint") if isinstance(out, dict) else None
        if x is None or len(x.shape) != 4:
            return
        c, m = x.shape[0], x.shape[3]
        if self.spec.in_channels is not None and c != self.spec.in_channels:
            raise StgcnError(f"{self.source}: the pipeline makes {c} input channels from sample {name} but "
                             f"the model has in_channels={self.spec.in_channels}; fix the pipeline "
                             "(FormatGCNInput appends keypoint_score as a channel) or backbone.in_channels")
        if self.spec.num_person is not None and m != self.spec.num_person:
            raise StgcnError(f"{self.source}: the pipeline gives {m} person slots but the model head has "
                             f"num_person={self.spec.num_person}; make FormatGCNInput(num_person=...) and "
                             "cls_head.num_person equal")


def _nonfinite_joints(sample: dict) -> np.ndarray:
    """[M, T, V] mask of joints whose coordinates or score are NaN/inf."""
    bad = ~np.isfinite(sample["keypoint"]).all(axis=-1)
    if "keypoint_score" in sample:
        bad |= ~np.isfinite(sample["keypoint_score"])
    return bad


class RepeatDataset(Dataset):
    """`dataset` repeated `times` times per epoch (mmaction2's RepeatDataset)."""

    def __init__(self, dataset: Dataset, times: int) -> None:
        self.dataset, self.times = dataset, int(times)
        self.labels: list[int] = list(dataset.labels) * self.times
        self.frame_dirs: list[str] = list(dataset.frame_dirs) * self.times

    def __len__(self) -> int:
        return self.times * len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[idx % len(self.dataset)]


class SyntheticPoseDataset(PoseDataset):
    """A generated, learnable dataset (see `stgcn.data.synthetic`): no download needed.

    Layout and class count default to the model's (`spec`), else coco and 10. Each split draws its
    own samples from the same class patterns.
    """

    def __init__(self, pipeline: Sequence[dict], num_samples: int = 200, split: str = "train",
                 num_classes: int | None = None, layout: str | dict | None = None, dims: int = 2,
                 num_person: int = 1, min_frames: int = 24, max_frames: int = 64, noise: float = 0.02,
                 seed: int = 0, test_mode: bool = False, spec: SampleSpec | None = None) -> None:
        spec = spec or SampleSpec()
        layout = layout or spec.layout or "coco"
        num_classes = num_classes or spec.num_classes or 10
        split_seed = seed if split == "train" else seed + zlib.crc32(split.encode())
        data = make_synthetic(num_samples, num_classes, layout=layout, dims=dims, num_person=num_person,
                              min_frames=min_frames, max_frames=max_frames, noise=noise, val_fraction=0.0,
                              seed=split_seed, prefix=f"{split}_")
        super().__init__(data["annotations"], pipeline, test_mode=test_mode, num_classes=num_classes,
                         spec=spec)


DATASETS: dict[str, type] = {
    "PoseDataset": PoseDataset, "RepeatDataset": RepeatDataset, "SyntheticPoseDataset": SyntheticPoseDataset,
}


def build_dataset(cfg: dict, test_mode: bool = False, spec: SampleSpec | None = None) -> Dataset:
    """A dataset from its config dict (`type` in DATASETS); a `test_mode` in the config wins."""
    args = dict(cfg)
    name = args.pop("type", None)
    if name not in DATASETS:
        raise _unknown("dataset type", name, list(DATASETS), "data config")
    cls = DATASETS[name]
    if cls is RepeatDataset:
        if set(args) != {"dataset", "times"}:
            raise StgcnError("data config: RepeatDataset takes exactly 'dataset' and 'times', got "
                             f"{sorted(args)}")
        return RepeatDataset(build_dataset(args["dataset"], test_mode, spec), args["times"])
    args.setdefault("test_mode", test_mode)
    return build_from_table(dict(args, type=name), DATASETS, "data config", what="dataset type", spec=spec)
