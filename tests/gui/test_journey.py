"""The whole journey in the window, on the demo wardrobe: import, analysis, suggestions, thumbs up
and down, retraining in the background while the window keeps working, a changed ranking, and a
favourite exported to a valid PNG and PDF."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import Qt

from stylist.domain import Category, Verdict
from tests.gui.conftest import DEMO, wait_idle


def test_the_whole_journey(qtbot, empty_window, tmp_path, monkeypatch):
    window = empty_window
    session = window.session
    monkeypatch.setattr("stylist.gui.session.AUTO_TRAIN_DELAY_MS", 200)
    # A shorter fine-tune (about 60 optimiser steps instead of 300) keeps this test quick; the
    # training is otherwise the real one, and the taste still shows in the ranking.
    import stylist.service

    full = stylist.service.personal_epochs
    monkeypatch.setattr(
        stylist.service, "personal_epochs", lambda n, **kw: max(1, full(n, **kw) // 5)
    )

    # Import through the window (as a drop would); analysis follows in the background.
    with qtbot.waitSignal(session.analysisFinished, timeout=180000):
        window.import_paths([DEMO])
    qtbot.waitUntil(lambda: window.wardrobe.model.rowCount() == 38, timeout=20000)
    wait_idle(qtbot, window)
    items = session.library.items()
    assert all(item.colours for item in items if item.category != Category.UNSORTED)

    # Suggestions appear.
    window.show_page(1)
    page = window.suggestions
    qtbot.waitUntil(lambda: len(page.cards) >= 10, timeout=60000)
    before = [c.data.ids() for c in page.cards]

    # A consistent taste: outfits with these shoes are liked, the others disliked.
    liked_shoes = page.cards[0].data.shoes
    probe = [c.data.outfit() for c in page.cards[10:]]  # outfits the person will not judge
    scores_before = {o: session.service.score_outfit(o).score for o in probe}
    window.activateWindow()
    judged = 0
    while judged < 8 and page.cards:
        card = page.current_card()
        card.setFocus()
        key = Qt.Key.Key_L if card.data.shoes == liked_shoes else Qt.Key.Key_D
        qtbot.keyClick(card, key)
        judged += 1
    assert len(session.library.verdicts()) == judged
    assert {r.verdict for r in session.library.verdicts()} <= {Verdict.LIKE, Verdict.DISLIKE}

    # Training starts by itself after a few verdicts and runs in the background.
    qtbot.waitUntil(lambda: session.tasks.running("train") is not None, timeout=20000)
    with qtbot.waitSignal(session.trainingFinished, timeout=600000) as finished:
        # The window keeps working meanwhile: pages switch, the wardrobe filters.
        window.show_page(0)
        window.wardrobe.category_chips[Category.SHOES].click()
        assert window.wardrobe.model.rowCount() == len(session.library.items(Category.SHOES))
        window.wardrobe.category_chips[None].click()
        assert window.indicator.isVisible()
        assert "Learning your style" in window.indicator.text.text()
    report = finished.args[0]
    assert report.accepted, report.message

    # The ranking changes the way the taste says.
    window.show_page(1)
    page.refresh()
    qtbot.waitUntil(lambda: len(page.cards) >= 10, timeout=60000)
    after = [c.data.ids() for c in page.cards]
    assert after != before
    scores_after = {o: session.service.score_outfit(o).score for o in probe}
    with_shoes = [o for o in probe if o.shoes == liked_shoes]
    others = [o for o in probe if o.shoes != liked_shoes]
    if with_shoes and others:
        gain_liked = sum(scores_after[o] - scores_before[o] for o in with_shoes) / len(with_shoes)
        gain_other = sum(scores_after[o] - scores_before[o] for o in others) / len(others)
        assert gain_liked > gain_other
    window.show_page(3)
    assert window.mystyle.table.rowCount() >= 1

    # A favourite, exported.
    window.show_page(1)
    page.favourite(page.cards[0])
    window.show_page(2)
    favourites = window.favourites
    for name, fmt in (("looks.png", "png"), ("lookbook.pdf", "pdf")):
        favourites.last_export = None
        favourites.export_to(tmp_path / name, fmt)
        qtbot.waitUntil(lambda: favourites.last_export is not None, timeout=60000)
    with Image.open(tmp_path / "looks.png") as image:
        image.verify()
    assert (tmp_path / "lookbook.pdf").read_bytes().startswith(b"%PDF")
    wait_idle(qtbot, window)
