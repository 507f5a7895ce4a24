"""My style: going back to the general model keeps every personal version."""

from __future__ import annotations


def test_use_the_general_model_from_my_style(qtbot, window):
    session = window.session
    library = session.library
    version = library.add_model_version(
        "efficientnet-lite0", "C", "models/v1.npz", {}, {"val_mean_ndcg": 0.5}, active=True
    )
    session.modelChanged.emit()
    page = window.mystyle
    window.show_page(3)
    assert page.general_button.isEnabled()
    with qtbot.waitSignal(session.modelChanged):
        page.general_button.click()
    assert [v.id for v in library.model_versions()] == [version]  # kept
    assert not any(v.active for v in library.model_versions())
    assert not page.general_button.isEnabled()
    assert page.table.item(0, 4).text() != "✓ in use"
