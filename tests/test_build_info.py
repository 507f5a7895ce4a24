"""Which build is running: ``stylist --version``, the About box's line, and the command that
runs this very Stylist again (a bundle is its own executable, a source tree runs ``-m``)."""

from __future__ import annotations

import json
import sys

import pytest

from stylist import __version__, build_info


def test_version_from_source(capsys) -> None:
    from stylist.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"stylist {__version__} (source)"
    assert build_info.self_command() == [sys.executable, "-m", "stylist"]


def test_a_frozen_bundle_names_itself_and_its_build(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert build_info.kind() == "bundle"
    assert build_info.self_command() == [sys.executable]
    assert build_info.describe() == f"{__version__} (bundle)"  # no stamp: nothing invented
    stamp = tmp_path / build_info.BUILD_FILE
    stamp.write_text(json.dumps({"built": "2026-01-02", "commit": "abc1234"}))
    monkeypatch.setattr(build_info, "__file__", str(tmp_path / "build_info.py"))
    assert build_info.describe() == f"{__version__} (bundle, built 2026-01-02 from abc1234)"
    stamp.write_text("not json")
    assert build_info.stamp() == {}


def test_what_needs_torch_says_so_in_a_build_without_it(monkeypatch, capsys, tmp_path) -> None:
    import importlib.util

    from stylist.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    assert main(["--home", str(tmp_path), "models", "install", "vgg16"]) == 1
    err = capsys.readouterr().err
    assert "installing VGG-16 needs PyTorch" in err and "Traceback" not in err
