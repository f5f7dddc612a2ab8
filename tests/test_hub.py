"""Checkpoints by URL: served from a local http.server thread (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from stgcn import Recognizer, StgcnError
from stgcn.data.classes import NTU60
from stgcn.hub import download_checkpoint, hash_prefix, resolve_checkpoint, stgcn_home
from stgcn.models import zoo
from tests.inference.helpers import make_checkpoint, make_samples


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the fixture folder; `/truncated/NAME` announces the full length but sends half."""

    hits: list = []

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        type(self).hits.append(self.path)
        if self.path.startswith("/truncated/"):
            data = (Path(self.directory) / self.path.rsplit("/", 1)[1]).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            return
        super().do_GET()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(base URL, served folder, the tiny checkpoint's bytes); the server thread stops at module end."""
    folder = tmp_path_factory.mktemp("served")
    ckpt = make_checkpoint(folder)
    data = ckpt.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    shutil.copy(ckpt, folder / f"tiny-{sha[:8]}.pth")
    shutil.copy(ckpt, folder / "tiny-deadbeef.pth")
    junk = b"not a checkpoint" * 100
    (folder / f"junk-{hashlib.sha256(junk).hexdigest()[:8]}.pth").write_bytes(junk)

    def handler(*args, **kwargs):
        return _Handler(*args, directory=str(folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder, data
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("STGCN_HOME", str(tmp_path / "home"))
    return tmp_path / "home" / "checkpoints"


def _cached(home: Path) -> list[str]:
    return sorted(p.name for p in home.iterdir()) if home.exists() else []


def test_hash_prefix_follows_the_torch_hub_convention():
    assert hash_prefix("stgcn_80e_ntu60_xsub_keypoint-e7bb9653.pth") == "e7bb9653"
    name_1x = "stgcn_8xb16-joint-u100-80e_ntu60-xsub-keypoint-2d_20221129-484a394a.pth"
    assert hash_prefix(name_1x) == "484a394a"
    assert hash_prefix("latest.pth") is None and hash_prefix("epoch-12.pth") is None


def test_download_checks_hash_caches_and_reuses(served, home):
    base, folder, data = served
    name = next(p.name for p in folder.glob("tiny-*.pth") if p.name != "tiny-deadbeef.pth")
    _Handler.hits.clear()
    path = download_checkpoint(f"{base}/{name}", progress=False)
    assert path == stgcn_home() / "checkpoints" / name and path.read_bytes() == data
    assert _cached(home) == [name]  # no temp file left beside it
    assert download_checkpoint(f"{base}/{name}", progress=False) == path
    assert _Handler.hits == [f"/{name}"]  # the second call used the cache


@pytest.mark.parametrize("url_path, message", [
    ("tiny-deadbeef.pth", r"sha256 [0-9a-f]{8}\.\.\. does not match the deadbeef in its name"),
    ("truncated/tiny-deadbeef.pth", r"download (truncated|failed)"),
    ("missing-1234abcd.pth", r"download failed \(.*404"),
])
def test_bad_downloads_leave_nothing_in_the_cache(served, home, url_path, message):
    with pytest.raises(StgcnError, match=message) as info:
        download_checkpoint(f"{served[0]}/{url_path}", progress=False)
    assert "\n" not in str(info.value)
    assert _cached(home) == []


def test_corrupt_download_with_matching_hash_is_not_cached(served, home):
    name = next(p.name for p in served[1].glob("junk-*.pth"))
    with pytest.raises(StgcnError, match="not a usable checkpoint, nothing was cached"):
        download_checkpoint(f"{served[0]}/{name}", progress=False)
    assert _cached(home) == []


def test_recognizer_and_zoo_names_load_from_urls(served, home, monkeypatch):
    base, folder, _ = served
    name = next(p.name for p in folder.glob("tiny-*.pth") if p.name != "tiny-deadbeef.pth")
    local = Recognizer.from_checkpoint(str(folder / name))
    samples = make_samples(2)
    by_url = Recognizer.from_checkpoint(f"{base}/{name}")
    np.testing.assert_array_equal(by_url.scores(samples), local.scores(samples))
    entry = zoo.ZooEntry("tiny_zoo", f"{base}/{name}", "tiny.py", "coco", "ntu60", 0.0, 0, "synthetic",
                         "test")
    monkeypatch.setitem(zoo.ZOO, "tiny_zoo", entry)
    path, found = resolve_checkpoint("tiny_zoo")
    assert found is entry and path == home / name
    with pytest.raises(StgcnError, match=r"60 class names but the model has num_classes=4"):
        Recognizer.from_checkpoint("tiny_zoo")  # the entry's class list is checked against the model


def test_load_from_url_and_class_names_stored_by_training(served, home, tmp_path):
    from stgcn.engine.config import load_config, parse_cfg_options
    from stgcn.engine.train import TrainOptions, train
    from stgcn.models.checkpoint import read_checkpoint
    from tests.engine.tiny import write_tiny_config

    base, folder, _ = served
    name = next(p.name for p in folder.glob("tiny-*.pth") if p.name != "tiny-deadbeef.pth")
    config = write_tiny_config(tmp_path)
    cfg = load_config(config, parse_cfg_options(["total_epochs=1"]))
    cfg.update(work_dir=str(tmp_path / "w"), seed=0, load_from=f"{base}/{name}")
    opts = TrainOptions(config_path=str(config), device="cpu")
    with pytest.raises(StgcnError, match=r"tiny.py: class_names: 3 class names but the model has num_cl"):
        train(dict(cfg, class_names=["a", "b", "c"]), opts)
    run = train(dict(cfg, class_names=["a", "b", "c", "d"]), opts)
    meta = read_checkpoint(run.work_dir / "epoch_1.pth")["meta"]
    assert meta["class_names"] == ["a", "b", "c", "d"] and _cached(home) == [name]


def test_tools_test_takes_a_checkpoint_url(served, home, tmp_path):
    from stgcn.commands import test as test_command
    from tests.engine.tiny import write_tiny_config

    base, folder, _ = served
    name = next(p.name for p in folder.glob("tiny-*.pth") if p.name != "tiny-deadbeef.pth")
    config, out = write_tiny_config(tmp_path), tmp_path / "out.pkl"
    assert test_command.main([str(config), f"{base}/{name}", "--out", str(out), "--device", "cpu"]) == 0
    assert out.is_file() and _cached(home) == [name]


def test_predict_by_zoo_name_downloads_and_uses_the_entry(served, home, monkeypatch, capsys):
    """A released 0.x checkpoint carries no config: the zoo entry supplies the project config and names."""
    import dataclasses

    from stgcn import build_model
    from stgcn.cli import main
    from stgcn.data import dump_pickle
    from stgcn.models.checkpoint import save_checkpoint

    base, folder, _ = served
    entry = zoo.ZOO["stgcn_80e_ntu60_xsub_keypoint"]
    model = build_model(entry.model_config())
    plain = folder / "plain.pth"
    save_checkpoint(plain, model, meta={"mmaction_version": "0.24.1"})
    name = f"{entry.name}-{hashlib.sha256(plain.read_bytes()).hexdigest()[:8]}.pth"
    plain.rename(folder / name)
    monkeypatch.setitem(zoo.ZOO, entry.name, dataclasses.replace(entry, url=f"{base}/{name}"))
    one = make_samples(1)[0]
    two = dict(one, keypoint=np.repeat(one["keypoint"], 2, 0),
               keypoint_score=np.repeat(one["keypoint_score"], 2, 0))
    dump_pickle([two], folder / "two_persons.pkl")
    assert main(["predict", entry.name, str(folder / "two_persons.pkl"), "--top-k", "1"]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.startswith("clip0") and _cached(home) == [name]
    assert row.split("  ")[1].strip() == NTU60[0]  # label 0, named with the entry's class list
    assert any(row.endswith(f"{n} {score}") for n in NTU60 for score in row.split()[-1:])
