"""The "My style" page: verdict counts, versions with their metrics, the NDCG chart, and going
back to an earlier version (versions recorded through the real library)."""

from __future__ import annotations

from stylist.domain import Category, Outfit, Verdict
from stylist.gui.mystyle import ndcg_of


def test_ndcg_is_found_whatever_the_trainer_called_it():
    assert ndcg_of({"val_mean_ndcg": 0.61, "mean_ndcg": 0.5}) == 0.61
    assert ndcg_of({"validation": {"ndcg_at_10": 0.4}}) == 0.4
    assert ndcg_of({"loss": 0.3}) is None
    assert ndcg_of({"val_mean_ndcg": float("nan"), "mean_ndcg": 0.55}) == 0.55


def test_versions_chart_and_going_back(qtbot, window):
    session = window.session
    library = session.library
    top = library.items(Category.TOP)[0].id
    bottom = library.items(Category.BOTTOM)[0].id
    shoes = library.items(Category.SHOES)[0].id
    library.add_verdict(Outfit(top, bottom, shoes), Verdict.LIKE, "suggestion")
    library.add_verdict(Outfit(top, bottom, shoes), Verdict.DISLIKE, "composed")
    library.add_verdict(Outfit(top, bottom, shoes), Verdict.LIKE, "wore")
    first = library.add_model_version(
        "efficientnet-lite0", "C", "models/v1.npz", {}, {"val_mean_ndcg": 0.52}, active=True
    )
    second = library.add_model_version(
        "efficientnet-lite0", "C", "models/v2.npz", {}, {"val_mean_ndcg": 0.58}, active=True
    )
    session.verdictsChanged.emit()
    page = window.mystyle
    window.show_page(3)
    assert (page.likes.text(), page.dislikes.text(), page.worn.text()) == ("1", "1", "1")
    assert [(name, value) for name, value, _ in page.chart.points] == [
        (f"v{first}", 0.52),
        (f"v{second}", 0.58),
    ]
    assert page.chart.grab().width() > 0
    assert page.table.rowCount() == 2
    assert page.table.item(0, 4).text() == "✓ in use"  # newest first
    page.table.selectRow(1)
    assert page.use_button.isEnabled()
    with qtbot.waitSignal(session.modelChanged):
        page.use_button.click()
    active = [v.id for v in library.model_versions() if v.active]
    assert active == [first]
    assert page.table.item(1, 4).text() == "✓ in use"
