"""The window's trainer shares the library's one trainer lock with the command line's."""

from __future__ import annotations

import os
import subprocess
import sys

from stylist.domain import Category, Outfit, Verdict


def _judge(session, n: int) -> None:
    library = session.library
    tops = [i.id for i in library.items(Category.TOP)]
    bottoms = [i.id for i in library.items(Category.BOTTOM)]
    shoes = library.items(Category.SHOES)[0].id
    for k in range(n):
        verdict = Verdict.LIKE if k % 4 else Verdict.DISLIKE
        session.service.rate(Outfit(tops[k % len(tops)], bottoms[k // len(tops)], shoes), verdict)


def test_the_window_waits_for_a_trainer_of_another_process(qtbot, window):
    session = window.session
    session.auto_train = False
    _judge(session, 12)
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        lock = session.service.trainer_lock()
        lock.lock_file.write_text(f"{other.pid}\n")
        with qtbot.waitSignal(session.status) as said:
            assert session.train() is None
        assert "another Stylist process" in said.args[0]
        assert lock.is_dirty()  # that trainer trains once more, on these verdicts too
        assert session.tasks.running("train") is None
    finally:
        other.stdin.close()
        other.wait()


def test_the_window_trains_under_the_lock_and_releases_it(qtbot, window, monkeypatch):
    import stylist.service

    monkeypatch.setattr(stylist.service, "personal_epochs", lambda n, **kw: 2)
    session = window.session
    session.auto_train = False
    _judge(session, 12)
    lock = session.service.trainer_lock()
    with qtbot.waitSignal(session.trainingFinished, timeout=300000):
        assert session.train() is not None
    qtbot.waitUntil(lambda: session.tasks.running("train") is None, timeout=30000)
    assert lock.holder() is None and not lock.is_dirty()
    events = [line.split(maxsplit=2)[1:] for line in lock.log_file.read_text().splitlines()]
    assert events[0] == [str(os.getpid()), "started"]
    assert events[-1] == [str(os.getpid()), "finished"]
    assert session.service.model_versions()
