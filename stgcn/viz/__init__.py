"""Pictures (optional extra ``stgcn[viz]``, matplotlib): skeleton animations, training curves,
confusion matrices.

Every picture starts from :func:`new_figure`, so a missing extra is one line naming the install command
instead of an ImportError deep inside a command. Figures are drawn on matplotlib's Agg canvas directly
(no pyplot state, no GUI backend) and saved through :func:`save_figure`, atomically.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from stgcn.errors import StgcnError
from stgcn.fileio import write_atomic

INSTALL_HINT = 'pip install "stgcn[viz]"'
IMAGE_SUFFIXES = (".png", ".pdf", ".svg")


def require_matplotlib() -> None:
    """Raise a one-line StgcnError naming the extra when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise StgcnError(f"pictures need matplotlib, which is not installed; run: {INSTALL_HINT}") from None


def new_figure(width: float, height: float, dpi: int = 100):
    """A matplotlib Figure of ``width`` x ``height`` inches on an Agg canvas."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def check_image_path(path: str | os.PathLike, flag: str) -> Path:
    """``path`` when its suffix is an image format matplotlib writes, else a one-line error."""
    path = Path(path)
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise StgcnError(f"{flag} {path}: unsupported picture suffix {path.suffix or '(none)'!r}; "
                         f"use one of {', '.join(IMAGE_SUFFIXES)}")
    return path


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` (format from the suffix) atomically."""
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lower().lstrip("."), bbox_inches="tight", pad_inches=0.1)
    return write_atomic(path, buffer.getvalue())
