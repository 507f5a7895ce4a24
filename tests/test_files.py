"""The one atomic write and the checked readers of ``stylist.files``."""

from __future__ import annotations

import os

import numpy as np
import pytest

from stylist.errors import UsageError
from stylist.files import FileFormatError, atomic_write, read_json, read_npz, write_json


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "sub" / "settings.json"
    write_json(target, {"a": 1})
    assert read_json(target) == {"a": 1}

    def half(fh):
        fh.write(b'{"a": ')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, half)
    assert read_json(target) == {"a": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["settings.json"]
    umask = os.umask(0o22)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_npz_reader_checks_stamp_keys_and_refuses_pickles(tmp_path):
    path = tmp_path / "cache.npz"
    atomic_write(path, lambda fh: np.savez(fh, format=np.array("f/1"), x=np.arange(3)))
    assert read_npz(path, stamp={"format": "f/1"}, keys=["x"])["x"].tolist() == [0, 1, 2]
    with pytest.raises(FileFormatError, match="cache.npz was not written for format 'f/2'"):
        read_npz(path, stamp={"format": "f/2"})
    with pytest.raises(UsageError, match="array 'y' is missing"):
        read_npz(path, keys=["y"], error=UsageError)
    np.savez(tmp_path / "pickle.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(FileFormatError, match="pickle.npz is not a readable"):
        read_npz(tmp_path / "pickle.npz")
    with pytest.raises(FileFormatError, match="absent.npz does not exist"):
        read_npz(tmp_path / "absent.npz")


def test_json_reader_names_what_is_wrong(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("[1, 2]")
    with pytest.raises(FileFormatError, match="c.json is not a JSON object"):
        read_json(path)
    write_json(path, {"format": "x/1"})
    with pytest.raises(FileFormatError, match="unsupported format 'x/1'"):
        read_json(path, fmt="x/2")
    path.write_text("{oops")
    with pytest.raises(FileFormatError, match="c.json is not readable JSON"):
        read_json(path)
