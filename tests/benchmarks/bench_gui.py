"""The desktop app: time from launch to a usable window, and the longest GUI-thread stall while
500 photos are imported and analysed.

Launch: ``stylist.gui.app.run`` in a fresh interpreter (offscreen Qt), from process start until
the window is shown and the event loop has run once; the median of several launches, on an empty
library and on a library of 500 items, against a bare Qt window launched the same way (the
baseline: what Qt itself costs). Each launch also reports whether torch or ONNX Runtime were
imported by then (they must not be).

Stall: in a fresh interpreter, the window imports 500 of the shared photos through the same path
as a drop on the window, then analyses them (features, categories, colours) in the background,
while a 10 ms QTimer heartbeat records every gap on the GUI thread. A stall is a gap minus the
10 ms period. Targets: launch at most 1.5 s, no stall over 100 ms.

Run alone: ``python -m tests.benchmarks gui`` (``BENCH_QUICK=1`` for a short run).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data" / "wardrobe-photos"
HEARTBEAT_MS = 10

LAUNCH_APP = """
import sys, types
from stylist.gui.app import run
def ready(window):
    heavy = [m for m in ("torch", "torchvision", "onnxruntime") if m in sys.modules]
    print("READY", ",".join(heavy) or "-", flush=True)
    window.close()
sys.exit(run(types.SimpleNamespace(home=sys.argv[1], demo=False, on_ready=ready)))
"""

LAUNCH_BARE_QT = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1280, 820)
window.show()
def ready():
    print("READY -", flush=True)
    app.quit()
QTimer.singleShot(0, ready)
sys.exit(app.exec())
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def launch_once(code: str, home: Path) -> tuple[float, str]:
    """Seconds from process start to the READY line, and the heavy modules imported by then."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )
    heavy = "?"
    for line in proc.stdout:
        if line.startswith("READY"):
            elapsed = time.perf_counter() - start
            heavy = line.split()[1]
            break
    else:
        proc.wait()
        raise RuntimeError(f"the window never became ready: {proc.stderr.read()[-800:]}")
    proc.communicate(timeout=60)
    return elapsed, heavy


def launch_figures(home: Path, runs: int) -> tuple[float, float, set[str]]:
    launch_once(LAUNCH_APP, home)  # warm the disk cache: we measure start-up, not the disk
    app = [launch_once(LAUNCH_APP, home) for _ in range(runs)]
    bare = [launch_once(LAUNCH_BARE_QT, home)[0] for _ in range(runs)]
    heavy = {h for _, h in app if h != "-"}
    return statistics.median(t for t, _ in app), statistics.median(bare), heavy


# --------------------------------------------------------------------------- the stall run
def stall_run(home: Path, count: int) -> dict:
    """Runs inside a fresh interpreter: import and analyse ``count`` photos in the window."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from stylist import paths
    from stylist.gui.app import create_window

    items = json.loads((SHARED / "items.json").read_text())
    photos = [SHARED / x["file"] for x in items[:count]]
    for path in photos:
        path.read_bytes()  # from the disk cache, as for a person's second import
    window = create_window(paths.for_home(home))
    window.show()
    app = QApplication.instance()
    session = window.session
    gaps: list[tuple[float, str]] = []  # (ms, phase)
    phase = ["idle"]
    last = [time.perf_counter()]

    def beat() -> None:
        now = time.perf_counter()
        gaps.append(((now - last[0]) * 1000.0, phase[0]))
        last[0] = now

    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(HEARTBEAT_MS)
    timer.timeout.connect(beat)

    def wait(condition, limit_s: float) -> None:
        end = time.perf_counter() + limit_s
        while not condition() and time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.001)

    wait(lambda: session.loaded, 30)
    timer.start()
    last[0] = time.perf_counter()
    wait(lambda: False, 0.5)  # an idle window: the heartbeat's own jitter
    phase[0] = "import"
    start = time.perf_counter()
    window.import_paths(photos)
    wait(lambda: session.tasks.running("import") is None, 600)
    import_s = time.perf_counter() - start
    phase[0] = "features"
    start = time.perf_counter()
    features_how = "service.extract_features (categories, colours, features)"
    wait(lambda: not session.tasks.active(include_quiet=True), 1800)
    features_s = time.perf_counter() - start
    phase[0] = "after"
    wait(lambda: False, 0.5)
    timer.stop()
    stored = len(session.library.items())
    window.close()

    def stalls(which: str) -> list[float]:
        return [max(0.0, g - HEARTBEAT_MS) for g, p in gaps if p == which]

    out = {
        "photos": count,
        "stored": stored,
        "import_s": import_s,
        "features_s": features_s,
        "features_how": features_how,
        "heavy": sorted(m for m in ("torch", "onnxruntime") if m in sys.modules),
    }
    for which in ("idle", "import", "features", "after"):
        s = sorted(stalls(which)) or [0.0]
        out[which] = {
            "beats": len(s),
            "max_ms": s[-1],
            "p99_ms": s[min(len(s) - 1, int(0.99 * len(s)))],
            "over_100ms": sum(1 for x in s if x > 100),
        }
    return out


def stall_figures(count: int) -> dict:
    with tempfile.TemporaryDirectory() as home:
        done = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.bench_gui", "--stall", home, str(count)],
            capture_output=True,
            text=True,
            env=_env(),
            cwd=REPO,
            timeout=3600,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    quick = os.environ.get("BENCH_QUICK") == "1"
    runs = 3 if quick else 7
    count = 100 if quick else 500
    with tempfile.TemporaryDirectory() as empty:
        app_s, bare_s, heavy = launch_figures(Path(empty), runs)
    print(
        f"launch to a usable window, empty library (median of {runs}): {app_s:.2f} s "
        f"(bare Qt window: {bare_s:.2f} s, ratio {app_s / bare_s:.2f}); target <= 1.5 s"
    )
    print(
        f"  heavy modules imported at that point: {', '.join(sorted(heavy)) or 'none'} "
        "(torch must not be)"
    )
    assert "torch" not in heavy, "torch was imported before the window was usable"

    figures = stall_figures(count)
    print(
        f"import of {figures['photos']} photos in the window: {figures['import_s']:.1f} s "
        f"({figures['stored']} stored), then analysis: {figures['features_s']:.1f} s "
        f"via {figures['features_how']}"
    )
    for which in ("idle", "import", "features", "after"):
        f = figures[which]
        print(
            f"  GUI-thread stalls while {which:<8}: longest {f['max_ms']:6.1f} ms, "
            f"p99 {f['p99_ms']:5.1f} ms, over 100 ms: {f['over_100ms']} "
            f"({f['beats']} heartbeats of {HEARTBEAT_MS} ms)"
        )
    longest = max(figures[w]["max_ms"] for w in ("import", "features"))
    print(
        f"longest GUI-thread stall while importing and analysing: {longest:.0f} ms "
        "(target: none over 100 ms)"
    )

    # Launch again on the library that now holds the items (same machine, same process).
    with tempfile.TemporaryDirectory() as home:
        from stylist import paths
        from stylist.service import Stylist

        items = json.loads((SHARED / "items.json").read_text())
        with Stylist(paths.for_home(home)) as service:
            service.import_photos([SHARED / x["file"] for x in items[:count]])
        app_s, bare_s, heavy = launch_figures(Path(home), runs)
    print(
        f"launch to a usable window, {count} items (median of {runs}): {app_s:.2f} s "
        f"(bare Qt window: {bare_s:.2f} s, ratio {app_s / bare_s:.2f}); "
        f"heavy modules: {', '.join(sorted(heavy)) or 'none'}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--stall":
        print(json.dumps(stall_run(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
