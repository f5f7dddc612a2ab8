"""`--confusion-matrix cm.png` draws the matrix; CSV and printing stay as they were."""

from __future__ import annotations

import numpy as np

from stgcn.engine.test import TestOptions as Options
from stgcn.engine.test import report_classes
from stgcn.viz.confusion import is_picture
from tests.viz.helpers import PNG_MAGIC


def results_for(pred: list[int], num_classes: int) -> list[np.ndarray]:
    return [np.eye(num_classes, dtype=np.float32)[p] for p in pred]


def test_picture_suffixes():
    assert is_picture("cm.png") and is_picture("a/cm.PDF") and is_picture("cm.svg")
    assert not is_picture("cm.csv") and not is_picture("-")


def test_png_and_csv(tmp_path, capsys):
    results, labels = results_for([0, 1, 1, 2], 3), [0, 1, 2, 2]
    png = tmp_path / "cm.png"
    report_classes(results, labels, 3, Options(confusion_matrix=str(png)))
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert f"drawn in {png}" in capsys.readouterr().out
    csv = tmp_path / "cm.csv"
    report_classes(results, labels, 3, Options(confusion_matrix=str(csv)))
    assert csv.read_text() == "1,0,0\n0,1,0\n0,1,1\n"


def test_class_names_label_the_rows(tmp_path, capsys):
    results, labels = results_for([0, 1, 1, 2], 3), [0, 1, 2, 2]
    svg = tmp_path / "cm.svg"
    report_classes(results, labels, 3, Options(confusion_matrix=str(svg)), ["wave", "jump", "sit"])
    text = svg.read_text()
    for row in ("wave (1)", "jump (1)", "sit (2)"):
        assert row in text
