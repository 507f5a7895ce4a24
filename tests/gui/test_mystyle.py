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
    tops = [i.id for i in library.items(Category.TOP)]
    bottom = library.items(Category.BOTTOM)[0].id
    shoes = library.items(Category.SHOES)[0].id
    library.add_verdict(Outfit(tops[0], bottom, shoes), Verdict.LIKE, "suggestion")
    library.add_verdict(Outfit(tops[1], bottom, shoes), Verdict.DISLIKE, "composed")
    worn = Outfit(tops[2], bottom, shoes)
    library.add_wear(worn, library.add_verdict(worn, Verdict.LIKE, "wore"))
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


def test_unvalidated_versions_say_so_and_the_general_model_is_one_click_away(qtbot, window):
    session = window.session
    library = session.library
    checked = library.add_model_version(
        "efficientnet-lite0",
        "C",
        "models/v1.npz",
        {},
        {"validated": True, "old_val_mean_ndcg": 0.41, "new_val_mean_ndcg": 0.47},
        active=False,
    )
    unchecked = library.add_model_version(
        "efficientnet-lite0",
        "C",
        "models/v2.npz",
        {},
        {"validated": False, "old_val_mean_ndcg": None, "new_val_mean_ndcg": None},
        active=True,
    )
    session.modelChanged.emit()
    page = window.mystyle
    window.show_page(3)
    assert "not yet validated" in page.model_text.text()
    assert f"Version {unchecked}" in page.model_text.text()
    cells = {page.table.item(r, 0).text(): page.table.item(r, 3).text() for r in range(2)}
    assert cells == {f"v{unchecked}": "not yet validated", f"v{checked}": "0.470 (was 0.410)"}
    assert [name for name, _, _ in page.chart.points] == [f"v{checked}"]
    assert page.general_button.isEnabled()
    with qtbot.waitSignal(session.modelChanged):
        page.general_button.click()
    assert not any(v.active for v in library.model_versions())
    assert "general model" in page.model_text.text()
    assert not page.general_button.isEnabled()
    assert window.session.service.matching_net("C")[1] == "the general model"


def test_the_chart_agrees_with_the_table(qtbot, window):
    session = window.session
    library = session.library
    page = window.mystyle
    window.show_page(3)
    assert page.table.rowCount() == 0
    assert page.chart.empty_text.startswith("No trained versions yet")
    ids = [
        library.add_model_version(
            "efficientnet-lite0",
            "C",
            f"models/v{n}.npz",
            {},
            {"validated": False, "old_val_mean_ndcg": None, "new_val_mean_ndcg": None},
            active=n == 2,
        )
        for n in (1, 2)
    ]
    session.modelChanged.emit()
    assert page.table.rowCount() == 2 and page.chart.points == []
    text = page.chart.empty_text
    assert "No trained versions" not in text
    assert f"v{ids[0]}, v{ids[1]} are trained but not yet validated" in text
    page.chart.grab()  # paints the wrapped message
