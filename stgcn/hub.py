"""Checkpoints by URL or model zoo name: download once into a cache, check the hash, reuse.

The cache is ``$STGCN_HOME/checkpoints/`` (``STGCN_HOME`` defaults to ``~/.cache/stgcn``). As in torch hub
and mmaction2, a file named ``name-<hex>.pth`` must have a sha256 starting with ``<hex>``. A download is
written to a temp file beside its target and renamed only once it is complete, matches its hash and loads
as a checkpoint, so an interrupted, truncated or corrupt download never stays in the cache.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from stgcn.errors import StgcnError
from stgcn.fileio import atomic_open
from stgcn.progress import Progress

URL_SCHEMES = ("http://", "https://")
_HASH = re.compile(r"-([0-9a-f]{6,64})$")
CHUNK = 1 << 20
TIMEOUT_S = 60


def stgcn_home() -> Path:
    """``$STGCN_HOME`` or ``~/.cache/stgcn``."""
    return Path(os.environ.get("STGCN_HOME") or Path("~/.cache/stgcn")).expanduser()


def is_url(text: object) -> bool:
    return isinstance(text, str) and text.startswith(URL_SCHEMES)


def hash_prefix(filename: str) -> str | None:
    """The hex after the last '-' of the file stem (``x-e7bb9653.pth`` -> ``e7bb9653``), or None."""
    match = _HASH.search(Path(filename).stem)
    return match.group(1) if match else None


def cached_path(url: str) -> Path:
    name = Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise StgcnError(f"{url}: the URL names no file; give the URL of a .pth checkpoint")
    return stgcn_home() / "checkpoints" / name


def download_checkpoint(url: str, progress: bool | None = None) -> Path:
    """The cached file for ``url``, downloaded (with a progress bar) when not there yet."""
    dest = cached_path(url)
    if dest.is_file():
        return dest
    expected = hash_prefix(dest.name)
    try:
        response = urllib.request.urlopen(url, timeout=TIMEOUT_S)  # noqa: S310 (http/https only)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = (f"HTTP {err.code} {err.reason}" if isinstance(err, urllib.error.HTTPError)
                  else getattr(err, "reason", None) or err)
        raise StgcnError(f"{url}: download failed ({reason}); check the URL and the network, or download "
                         "the file and pass its path") from None
    with response:
        total = response.headers.get("Content-Length")
        total = int(total) if total and total.isdigit() else None
        digest, size = hashlib.sha256(), 0
        bar = Progress(total=total, desc=f"download {dest.name}", enabled=progress)
        try:
            with atomic_open(dest) as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
                if total is not None and size != total:
                    raise StgcnError(f"{url}: download truncated ({size} of {total} bytes); try again")
                if expected and not digest.hexdigest().startswith(expected):
                    raise StgcnError(f"{url}: sha256 {digest.hexdigest()[:len(expected)]}... does not match "
                                     f"the {expected} in its name; the file is corrupt or not the "
                                     "published one, nothing was cached")
        except (OSError, http.client.HTTPException) as err:
            raise StgcnError(f"{url}: download failed ({type(err).__name__}: {err}); try again") from None
        finally:
            bar.close()
    _check_loadable(dest, url)
    return dest


def _check_loadable(path: Path, url: str) -> None:
    from stgcn.models.checkpoint import read_checkpoint

    try:
        read_checkpoint(path)
    except StgcnError as err:
        path.unlink(missing_ok=True)
        raise StgcnError(f"{url}: the download is not a usable checkpoint, nothing was cached "
                         f"({err})") from None


def resolve_checkpoint(checkpoint: str | os.PathLike):
    """A path, URL or model zoo name -> (local path, the zoo entry or None).

    A local file wins over a zoo entry of the same name.
    """
    from stgcn.models.zoo import ZOO

    text = os.fspath(checkpoint)
    if is_url(text):
        return download_checkpoint(text), None
    if not os.path.exists(text) and text in ZOO:
        entry = ZOO[text]
        return download_checkpoint(entry.url), entry
    return Path(text), None


def local_checkpoint(checkpoint: str | os.PathLike) -> Path:
    """A path, URL or model zoo name -> the local checkpoint file (downloaded when needed)."""
    return resolve_checkpoint(checkpoint)[0]
