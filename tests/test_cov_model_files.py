"""The embedded model's file: chunks found through package metadata, assembled, verified once.

Real chunk packages are 1.1 GB; here a small model is published as two installed
distributions (``.dist-info`` folders on ``sys.path``), found by the same metadata lookup.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from prellm.errors import ConfigError
from prellm.providers import model_files as mf

CHUNKS = (b"first chunk of weights;", b"second chunk of weights.")
WHOLE = b"".join(CHUNKS)


def _publish(site: Path, dist: str, files: dict[str, bytes]) -> None:
    """An installed distribution ``dist`` whose RECORD lists ``files`` (written under ``site``)."""
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
    for rel, data in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_bytes(data)
    record = [f"{rel},," for rel in files] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> mf.EmbeddedModelSpec:
    """A two-chunk model registered as ``tiny``, its chunks installed, the cache in tmp."""
    site = tmp_path / "site"
    for i, chunk in enumerate(CHUNKS, 1):
        pkg = f"tiny_part{i}"
        _publish(site, f"tiny-part{i}", {f"{pkg}/__init__.py": b"", f"{pkg}/data/w.bin": chunk})
    monkeypatch.syspath_prepend(str(site))
    spec = mf.EmbeddedModelSpec(
        name="tiny",
        filename="tiny.gguf",
        size=len(WHOLE),
        sha256=hashlib.sha256(WHOLE).hexdigest(),
        parts=("tiny-part1", "tiny-part2"),
        description="a test model",
    )
    monkeypatch.setitem(mf.EMBEDDED_MODELS, "tiny", spec)
    monkeypatch.setenv("PRELLM_CACHE_DIR", str(tmp_path / "cache"))
    return spec


def _target(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "models" / "tiny.gguf"


def _drop_chunks(tmp_path: Path) -> None:
    for f in (tmp_path / "site").rglob("*.bin"):
        f.unlink()


def test_cache_dir_prefers_prellm_cache_dir_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("PRELLM_CACHE_DIR", str(tmp_path / "mine"))
    assert mf.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PRELLM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mf.cache_dir() == tmp_path / "xdg" / "prellm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mf.cache_dir() == tmp_path / "home" / ".cache" / "prellm"


def test_chunk_files_are_found_in_order_through_package_metadata(tiny, tmp_path):
    files = mf.chunk_files(tiny)
    assert [f.read_bytes() for f in files] == list(CHUNKS)


def test_a_missing_chunk_package_names_it_and_how_to_install(tiny):
    spec = mf.EmbeddedModelSpec(**{**tiny.__dict__, "parts": ("tiny-part1", "tiny-part9")})
    with pytest.raises(ConfigError, match=r"tiny-part9 missing.*prellm-engine\[local\]"):
        mf.chunk_files(spec)


def test_a_chunk_package_without_exactly_one_chunk_is_refused(tiny, tmp_path):
    _publish(tmp_path / "site", "tiny-part3", {"tiny_part3/a.bin": b"a", "tiny_part3/b.bin": b"b"})
    spec = mf.EmbeddedModelSpec(**{**tiny.__dict__, "parts": ("tiny-part1", "tiny-part3")})
    with pytest.raises(ConfigError, match="tiny-part3 does not hold exactly one model chunk"):
        mf.chunk_files(spec)


def test_first_use_assembles_verifies_and_marks_the_file(tiny, tmp_path):
    path = mf.embedded_model_path("tiny")
    assert path == _target(tmp_path)
    assert path.read_bytes() == WHOLE
    mark = json.loads(path.with_name("tiny.gguf.verified").read_text())
    assert mark == {"sha256": tiny.sha256, "mtime_ns": path.stat().st_mtime_ns}
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".part")] == []
    # Verified once: later uses need neither the chunks nor a new hash.
    _drop_chunks(tmp_path)
    assert mf.embedded_model_path("tiny") == path


def test_a_marked_file_stays_verified_when_a_copy_kept_whole_seconds(tiny, tmp_path):
    """An image layer or tar archive keeps the mtime to the second: the marker still holds."""
    path = mf.embedded_model_path("tiny")
    st = path.stat()
    fraction_ns = 123_456_789
    os.utime(path, ns=(st.st_atime_ns, 1_700_000_000 * 10**9 + fraction_ns))
    mf._write_marker(path, tiny)  # as hashed: with its sub-second part
    os.utime(path, ns=(st.st_atime_ns, 1_700_000_000 * 10**9))  # as copied: whole seconds
    assert mf._is_verified(path, tiny)
    _drop_chunks(tmp_path)
    assert mf.embedded_model_path("tiny") == path


@pytest.mark.parametrize(
    "touched_ns",
    [
        1_700_000_001 * 10**9,  # another second
        1_699_999_999 * 10**9,  # an earlier second
        1_700_000_000 * 10**9 + 5,  # the same second, another fraction (fraction kept)
    ],
)
def test_a_file_touched_after_hashing_is_no_longer_verified(tiny, touched_ns):
    path = mf.embedded_model_path("tiny")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, 1_700_000_000 * 10**9 + 123_456_789))
    mf._write_marker(path, tiny)
    assert mf._is_verified(path, tiny)
    os.utime(path, ns=(st.st_atime_ns, touched_ns))
    assert not mf._is_verified(path, tiny)


@pytest.mark.parametrize(
    "marker",
    [
        "not json",
        "[1, 2]",
        '{"sha256": "0000", "mtime_ns": 0}',
        '{"sha256": "%(sha)s", "mtime_ns": "%(mtime)s"}',  # a string is not a time
        '{"sha256": "%(sha)s", "mtime_ns": true}',
        '{"sha256": "%(sha)s"}',
    ],
)
def test_a_marker_that_does_not_vouch_for_the_file_is_ignored(tiny, marker):
    path = mf.embedded_model_path("tiny")
    text = marker % {"sha": tiny.sha256, "mtime": path.stat().st_mtime_ns}
    path.with_name("tiny.gguf.verified").write_text(text)
    assert not mf._is_verified(path, tiny)


def test_a_file_of_another_size_is_not_verified_by_its_marker(tiny):
    path = mf.embedded_model_path("tiny")
    bigger = mf.EmbeddedModelSpec(**{**tiny.__dict__, "size": tiny.size + 1})
    assert not mf._is_verified(path, bigger)


def test_an_unmarked_file_with_the_right_hash_is_marked_without_reassembling(tiny, tmp_path):
    target = _target(tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(WHOLE)
    _drop_chunks(tmp_path)  # reassembling would fail: the hash alone must do
    assert mf.embedded_model_path("tiny") == target
    assert mf._is_verified(target, tiny)


def test_a_damaged_file_is_assembled_again_from_the_chunks(tiny, tmp_path):
    target = _target(tmp_path)
    target.parent.mkdir(parents=True)
    target.write_bytes(WHOLE[::-1])  # right size, wrong content
    assert mf.embedded_model_path("tiny").read_bytes() == WHOLE


def test_corrupt_chunks_leave_no_file_behind(tiny, tmp_path):
    next((tmp_path / "site").rglob("w.bin")).write_bytes(b"tampered chunk of weights")
    with pytest.raises(ConfigError, match=r"chunks are corrupt .*prellm-engine\[local\]"):
        mf.embedded_model_path("tiny")
    models = tmp_path / "cache" / "models"
    assert list(models.iterdir()) == []


def test_an_unwritable_marker_does_not_fail_a_verified_file(tiny, tmp_path):
    """On a read-only cache the marker cannot be written: the file is still used."""
    target = _target(tmp_path)
    target.with_name("tiny.gguf.verified").mkdir(parents=True)  # writing it fails
    path = mf.embedded_model_path("tiny")
    assert path.read_bytes() == WHOLE
    assert not mf._is_verified(path, tiny)


def test_an_unknown_embedded_name_lists_the_known_ones(tiny):
    with pytest.raises(ConfigError, match=r"unknown embedded model 'nope'; known: .*tiny"):
        mf.embedded_model_path("nope")


def test_resolve_gguf_takes_a_path_or_an_embedded_name(tiny, tmp_path):
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    assert mf.resolve_gguf(str(own)) == own
    with pytest.raises(ConfigError, match="GGUF file not found"):
        mf.resolve_gguf(str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigError, match="GGUF file not found"):
        mf.resolve_gguf(str(tmp_path / "dir" / "model"))  # a path, even without .gguf
    assert mf.resolve_gguf("tiny").read_bytes() == WHOLE


def test_status_reports_without_assembling(tiny, tmp_path):
    before = mf.embedded_status("tiny")
    assert before["chunks_installed"] is True
    assert before["assembled"] is False and before["verified"] is False
    assert not _target(tmp_path).exists()
    mf.embedded_model_path("tiny")
    after = mf.embedded_status("tiny")
    assert after["assembled"] is True and after["verified"] is True
    assert after["file"] == str(_target(tmp_path)) and after["size"] == len(WHOLE)
    _drop_chunks(tmp_path)
    for f in (tmp_path / "site").rglob("RECORD"):
        f.write_text("")  # the packages hold no chunk any more
    assert mf.embedded_status("tiny")["chunks_installed"] is False
