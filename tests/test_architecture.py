"""House rules that keep start-up fast and Qt out of the core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

STYLIST = Path(__file__).resolve().parents[1] / "stylist"
HEAVY = ("torch", "torchvision", "onnxruntime", "onnx", "PySide6")


def test_light_modules_do_not_import_heavy_libraries():
    code = (
        "import sys, stylist.cli, stylist.library, stylist.service, stylist.library.importer\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_gui_package_imports_qt():
    offenders = [
        str(path.relative_to(STYLIST))
        for path in STYLIST.rglob("*.py")
        if "gui" not in path.relative_to(STYLIST).parts and "PySide6" in _imports(path)
    ]
    assert offenders == []


def test_every_core_module_imports_with_qt_blocked():
    modules = [
        ".".join(path.relative_to(STYLIST.parent).with_suffix("").parts)
        for path in STYLIST.rglob("*.py")
        if "gui" not in path.relative_to(STYLIST).parts and path.name != "__main__.py"
    ]
    code = (
        "import sys, importlib\n"
        "sys.modules['PySide6'] = None  # any import of Qt now fails\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_slot_and_pair_names_are_declared_only_in_domain():
    """A tuple, list or set of two or more slot names (or pair names) is a second declaration
    of what ``domain`` holds: it drifts the day a family is added."""
    from stylist.domain import PAIR_NAMES, SLOT_NAMES

    offenders = []
    for path in STYLIST.rglob("*.py"):
        if path.name == "domain.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple | ast.List | ast.Set):
                words = {e.value for e in node.elts if isinstance(e, ast.Constant) and e.value} & {
                    *SLOT_NAMES,
                    *PAIR_NAMES,
                }
                if len(words) >= 2:
                    offenders.append(f"{path.relative_to(STYLIST)}:{node.lineno}")
    assert offenders == []


def test_torch_is_imported_only_in_learn_and_the_export_of_backbones():
    """torch is the training stack: the core that ranks, the library and the window run without
    it (and a bundle without torch starts); only ``learn`` and the backbone export use it."""
    allowed = {
        "learn",
        "vision/export.py",
        "vision/efficientnet_lite.py",
        "vision/preprocess.py",
    }
    offenders = [
        str(rel)
        for path in STYLIST.rglob("*.py")
        if {"torch", "torchvision"} & _imports(path)
        and not any(str(rel := path.relative_to(STYLIST)).startswith(a) for a in allowed)
    ]
    assert offenders == []


def test_no_module_imports_one_that_imports_it_back():
    """No import circle between two modules (at module level or in a function; imports for type
    checking only, and a package's own submodules imported from it, do not count)."""
    trees = {}
    for path in STYLIST.rglob("*.py"):
        name = ".".join(path.relative_to(STYLIST.parent).with_suffix("").parts)
        trees[name.removesuffix(".__init__")] = ast.parse(path.read_text(encoding="utf-8"))
    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for inner in ast.walk(node)
        }
        targets = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in trees else node.module)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[name] = {t for t in targets if t in trees and t != name}
    circles = sorted(
        f"{a} <-> {b}" for a, targets in graph.items() for b in targets if a < b and a in graph[b]
    )
    assert circles == []
