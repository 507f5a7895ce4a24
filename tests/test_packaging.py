"""The wheel: built from a copy of the source tree, installed into an empty folder, it carries the
shipped models and the demo wardrobe and works without the source tree beside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "stylist", "models", "resources")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            shutil.copy2(REPO / name, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(out), str(src)],
        check=True,
        cwd=src,
    )
    (found,) = out.glob("stylist-*.whl")
    return found


def test_the_wheel_carries_models_and_the_demo_wardrobe_but_not_build_scripts(wheel) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = "stylist/_shipped/"
    for f in (
        "models/efficientnet-lite0.onnx",
        "models/efficientnet-lite0-int8.onnx",
        "models/efficientnet-lite0.json",
        "models/fashionnet-c-efficientnet-lite0.npz",
        "models/fashionnet-c-efficientnet-lite0.json",
        "models/category-head-efficientnet-lite0.npz",
        "models/MODEL_CARD-fashionnet.md",
        "resources/demo-wardrobe/labels.json",
        "resources/demo-wardrobe/LICENSE.md",
    ):
        assert shipped + f in names, f
    assert any(n.startswith(shipped + "resources/demo-wardrobe/tops/") for n in names)
    assert not [n for n in names if n.startswith(shipped) and n.endswith(".py")]
    assert "stylist/cli.py" in names


def test_the_installed_wheel_runs_the_demo_without_the_source_tree(wheel, tmp_path) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q"]
        + ["--target", str(site), str(wheel)],
        check=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site), "STYLIST_HOME": str(tmp_path / "home")}

    def python(code: str) -> str:
        run = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,  # not the source tree
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    where = json.loads(
        python(
            "import json, stylist, stylist.paths as p\n"
            "print(json.dumps({'package': stylist.__file__, 'models': str(p.models_dir()), "
            "'resources': str(p.resources_dir())}))"
        )
    )
    for key in ("package", "models", "resources"):
        assert Path(where[key]).is_relative_to(site), (key, where[key])
    python("from stylist.cli import main; raise SystemExit(main(['demo']))")
    out = python(
        "from stylist.cli import main; raise SystemExit(main(['--demo', 'suggest', '-k', '3', "
        "'--json']))"
    )
    outfits = json.loads(out)
    assert len(outfits) == 3
