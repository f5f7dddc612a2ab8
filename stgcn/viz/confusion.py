"""A confusion matrix picture (`tools/test.py --confusion-matrix cm.png`): rows are true classes,
normalised to sum to 1, columns predictions; each row's sample count is in its label."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from stgcn.viz import IMAGE_SUFFIXES, new_figure, save_figure

ANNOTATE_UP_TO = 30  # classes; beyond this the cell numbers are unreadable


def is_picture(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a picture format (.png/.pdf/.svg) rather than a CSV file."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def plot_confusion(counts: np.ndarray, path: str | os.PathLike, class_names: object = None,
                   title: str | None = None) -> Path:
    """Draw the row-normalised matrix of ``counts`` (num_classes, num_classes) and save it.

    ``class_names``: a list, a built-in list name or a label-map file (a config's ``class_names``);
    classes are numbered without it."""
    from stgcn.data.classes import resolve_class_names

    counts = np.asarray(counts, dtype=np.float64)
    n = counts.shape[0]
    if class_names is not None:
        class_names = resolve_class_names(class_names, n, "class_names")
    rows = counts.sum(1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    names = [str(i) for i in range(n)] if class_names is None else list(class_names)
    side = min(max(4.0, 0.45 * n + 2.5), 30.0)
    fig = new_figure(side + 1.2, side)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_xticks(range(n), names, rotation=90, fontsize=8)
    ax.set_yticks(range(n), [f"{name} ({int(total)})" for name, total in zip(names, rows[:, 0], strict=True)],
                  fontsize=8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class (samples)")
    if n <= ANNOTATE_UP_TO:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{share[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if share[i, j] > 0.5 else "black")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    title = title or f"confusion matrix, top-1 {accuracy:.4f} ({int(counts.sum())} samples)"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
