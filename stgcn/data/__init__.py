"""Skeleton data: annotation files, pipeline transforms, datasets, packed storage, synthetic data."""

from stgcn.data.dataset import (
    DATASETS,
    PoseDataset,
    RepeatDataset,
    SampleSpec,
    SyntheticPoseDataset,
    build_dataset,
)
from stgcn.data.packed import PackedAnnotations, pack
from stgcn.data.safe_pickle import dump_pickle, load_pickle
from stgcn.data.synthetic import make_synthetic
from stgcn.data.transforms import TRANSFORMS, build_pipeline

__all__ = [
    "DATASETS", "TRANSFORMS", "PackedAnnotations", "PoseDataset", "RepeatDataset", "SampleSpec",
    "SyntheticPoseDataset", "build_dataset", "build_pipeline", "dump_pickle", "load_pickle",
    "make_synthetic", "pack",
]
