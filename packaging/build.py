"""Build the everyday Linux bundle: ``dist/Stylist/`` and its archive (``.tar.zst``).

Run by ``make package`` with the package venv's Python (``.venv-package``: the run-time
dependencies without torch, and PyInstaller). Steps: stamp the build (date, commit) for
``stylist --version``, run PyInstaller on ``packaging/stylist.spec``, refuse a bundle that holds
torch, add the desktop entry, icon and an install script, pack it, and print its size with what
takes the space.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
WORK = ROOT / "build" / "package"
APP = DIST / "Stylist"
LIMIT_MB = 600  # the everyday bundle's size budget, unpacked


def version() -> str:
    namespace: dict[str, str] = {}
    exec((ROOT / "stylist" / "__init__.py").read_text(encoding="utf-8"), namespace)
    return namespace["__version__"]


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return ""


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def breakdown(app: Path, top: int = 14) -> list[tuple[str, int]]:
    """The biggest parts of the bundle: each package folder of ``_internal`` (Qt's libraries
    counted apart from its plugins) and each loose shared library."""
    internal = app / "_internal"
    parts: dict[str, int] = {}
    for entry in internal.iterdir():
        if entry.is_symlink():
            continue  # PyInstaller links libraries to where their package keeps them
        if entry.is_dir() and entry.name == "PySide6":
            for sub in entry.iterdir():
                key = f"PySide6/{sub.name}" if sub.is_dir() else "PySide6 (modules)"
                parts[key] = parts.get(key, 0) + size_of(sub)
        elif entry.is_dir():
            parts[entry.name] = size_of(entry)
        else:
            key = "other libraries" if entry.stat().st_size < 4 * 2**20 else entry.name
            parts[key] = parts.get(key, 0) + size_of(entry)
    return sorted(parts.items(), key=lambda kv: -kv[1])[:top]


def main() -> int:
    try:
        import PyInstaller.__main__ as pyinstaller
    except ImportError:
        print("build.py: run it with the package venv (`make package`)", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    stamp = {"built": _dt.date.today().isoformat(), "commit": commit(), "kind": "bundle"}
    (WORK / "_build.json").write_text(json.dumps(stamp) + "\n", encoding="utf-8")
    pyinstaller.run(
        [
            str(ROOT / "packaging" / "stylist.spec"),
            "--noconfirm",
            "--clean",
            "--distpath",
            str(DIST),
            "--workpath",
            str(WORK / "work"),
        ]
    )
    internal = APP / "_internal"
    leaked = [p.name for p in internal.iterdir() if p.name.startswith(("torch", "nvidia"))]
    if leaked:
        print(f"build.py: torch got into the bundle ({', '.join(leaked)})", file=sys.stderr)
        return 1
    total = size_of(APP)
    print()
    print(f"Bundle: {APP}  {total / 2**20:.0f} MB unpacked (budget {LIMIT_MB} MB)")
    if not sys.platform.startswith("linux"):
        # Windows: packaging/windows/stylist.iss makes the installer; macOS: dist/Stylist.app
        # goes into a disk image (packaging/README.md).
        return report(total)
    # The desktop entry, icon and installer travel with the folder.
    shutil.copy2(ROOT / "packaging" / "stylist.desktop", APP / "stylist.desktop")
    shutil.copy2(ROOT / "resources" / "icons" / "stylist.svg", APP / "stylist.svg")
    shutil.copy2(ROOT / "packaging" / "linux" / "install.sh", APP / "install.sh")
    shutil.copy2(ROOT / "packaging" / "linux" / "README.txt", APP / "README.txt")
    os.chmod(APP / "install.sh", 0o755)

    archive = DIST / f"Stylist-{version()}-linux-{platform.machine()}.tar.zst"
    archive.unlink(missing_ok=True)
    subprocess.run(
        ["tar", "--zstd", "-cf", str(archive), "-C", str(DIST), "Stylist"],
        check=True,
        env={**os.environ, "ZSTD_CLEVEL": "10", "ZSTD_NBTHREADS": "2"},
    )
    print(f"Archive: {archive}  {archive.stat().st_size / 2**20:.0f} MB")
    return report(total)


def report(total: int) -> int:
    """What takes the space; 1 when the bundle is over budget."""
    print("What takes the space:")
    for name, n in breakdown(APP):
        print(f"  {n / 2**20:7.1f} MB  {name}")
    if total > LIMIT_MB * 2**20:
        print(f"build.py: the bundle is over {LIMIT_MB} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
