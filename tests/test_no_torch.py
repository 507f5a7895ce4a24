"""The everyday app runs without torch: the bundle people download does not hold it.

A fresh interpreter, with torch made unimportable, goes through every everyday path on the demo
wardrobe: import and analysis, suggestions, verdicts, a personal training whose version then
ranks, an export, the window with its pages and the About box. Then torch must not even have been
asked for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import importlib.abc
    import json
    import os
    import sys

    BLOCKED = ("torch", "torchvision")
    asked = []


    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                asked.append(name)
                raise ImportError(f"{name} is not in this build")
            return None


    sys.meta_path.insert(0, NoTorch())

    from stylist import paths
    from stylist.domain import Category, Outfit, Verdict
    from stylist.service import Stylist

    home = sys.argv[1]
    stylist, report = Stylist.open_demo(paths.for_home(home))
    assert report is not None and not report.failed
    stylist.extract_features()
    best = stylist.suggest(10)
    assert len(best) == 10
    tops, bottoms, shoes = (
        [i.id for i in stylist.items(c)] for c in (Category.TOP, Category.BOTTOM, Category.SHOES)
    )
    outfits = [Outfit(t, bottoms[0], s) for t in tops for s in shoes][:24]
    for n, outfit in enumerate(outfits):
        stylist.rate(outfit, Verdict.LIKE if n % 4 else Verdict.DISLIKE)
    trained = stylist.train()
    assert trained.version_id is not None, trained.message
    stylist.use_model_version(trained.version_id)
    assert stylist.suggest(10)[0].score != best[0].score  # the personal version ranks
    stylist.add_favourite(best[0].outfit())
    exported = stylist.export_favourites(os.path.dirname(home) + "/favourites.png")
    assert exported.stat().st_size > 0
    stylist.close()

    from PySide6.QtWidgets import QApplication

    from stylist.gui.app import create_window
    from stylist.gui.dialogs import AboutDialog

    window = create_window(paths.for_home(home))
    window.show()
    app = QApplication.instance()
    for _ in range(400):
        app.processEvents()
        if window.session.loaded:
            break
    assert window.session.loaded
    about = AboutDialog(window)
    window.close()
    app.processEvents()
    print(json.dumps({
        "asked": asked,
        "loaded": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
        "about": about.text,
    }))
    """
)


def test_the_everyday_paths_never_import_torch(tmp_path) -> None:
    import json

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STYLIST_HOME": str(tmp_path / "home")}
    root = Path(__file__).resolve().parent.parent
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "home")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["asked"] == [] and result["loaded"] == []
    assert "Stylist: 0." in result["about"] and "(source)" in result["about"]
