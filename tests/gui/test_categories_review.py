"""Guesses never move silently: corrections lead to an offer, never to items changing places."""

from __future__ import annotations

import shutil

from stylist.domain import Category, CategorySource
from tests.gui.conftest import wait_idle


def _categories(session) -> dict[int, tuple[Category, object]]:
    return {i.id: (i.category, i.category_source) for i in session.library.items()}


def test_an_import_of_broken_files_moves_no_category(
    qtbot, empty_window, tmp_path, wardrobe_items, shared_data
):
    window = empty_window
    session = window.session
    photos = tmp_path / "photos"
    photos.mkdir()
    for slot in ("top", "bottom", "shoes"):
        for entry in [x for x in wardrobe_items if x["slot"] == slot][:10]:
            source = shared_data / "wardrobe-photos" / entry["file"]
            shutil.copyfile(source, photos / source.name)
    with qtbot.waitSignal(session.analysisFinished, timeout=300000):
        session.import_paths([photos])
    wait_idle(qtbot, window)
    guessed = [i for i in session.library.items() if i.category_source == CategorySource.AUTO]
    assert len(guessed) >= 20
    # Corrections that contradict the guesser: tops said to be one-pieces. Other items would
    # now be guessed differently; they are offered for review, never moved.
    tops = [i.id for i in guessed if i.category == Category.TOP][:5]
    with qtbot.waitSignal(session.categoryReview, timeout=60000) as offered:
        session.set_category(tops, Category.ONE_PIECE)
    wait_idle(qtbot, window)
    proposals = offered.args[0]
    assert proposals, "these corrections change some guesses"
    assert all(item.category_source == CategorySource.AUTO for item, _, _ in proposals)
    before = _categories(session)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not a photo at all")
    (broken / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with qtbot.waitSignal(session.importFinished, timeout=60000) as imported:
        session.import_paths([broken])
    assert not imported.args[0].added and len(imported.args[0].failed) == 2
    wait_idle(qtbot, window)
    assert _categories(session) == before  # nothing moved

    # The offer stands; the items move only when the person accepts it.
    assert window.review_box.isVisibleTo(window)
    assert f"{len(session.category_proposals)} item" in window.review_text.text()
    assert "may be in the wrong category" in window.review_text.text()
    wanted = {item.id: category for item, category, _ in session.category_proposals}
    assert session.accept_category_review() == len(wanted)
    after = _categories(session)
    moved = {i for i in after if after[i] != before[i]}
    assert moved == set(wanted)
    assert all(after[i][0] == wanted[i] for i in moved)
    assert not window.review_box.isVisibleTo(window)
