"""The cut-out in the detail pane on the real demo wardrobe: a brush stroke, undo, and "use
original photo"; the item's features follow each change and come back with it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent

from tests.gui.conftest import wait_idle


def _mouse(widget, kind, point: QPointF) -> None:
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else None
    event = QMouseEvent(
        kind,
        point,
        widget.mapToGlobal(point),
        Qt.MouseButton.LeftButton,
        buttons if buttons is not None else Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    widget.event(event)


def _stroke(canvas, points: list[tuple[int, int]]) -> None:
    """Drag the brush through points given in the photo's pixels."""
    widget_points = [canvas.from_photo(x, y) for x, y in points]
    _mouse(canvas, QEvent.Type.MouseButtonPress, widget_points[0])
    for p in widget_points[1:]:
        _mouse(canvas, QEvent.Type.MouseMove, p)
    _mouse(canvas, QEvent.Type.MouseButtonRelease, widget_points[-1])


def _features(session, item_id: int) -> np.ndarray:
    spec = session.service.backbone()
    return session.library.features(spec.id, spec.sha256)[item_id].copy()


def test_brush_undo_and_original_photo_change_the_features_and_bring_them_back(qtbot, window):
    session, page = window.session, window.wardrobe
    item = next(i for i in session.library.items() if i.cutout == "auto")
    page.select_item(item.id)
    detail = page.detail
    panel = detail.cutout
    qtbot.waitUntil(lambda: panel.isVisible(), timeout=5000)
    assert not detail.photo.isVisible()  # the cut-out takes the photo's place
    assert not panel.original.isChecked()
    assert not panel.undo_button.isEnabled()
    canvas = panel.canvas
    automatic = canvas.mask.copy()
    cut_out = _features(session, item.id)

    # Erase a broad band across the middle of the garment.
    panel.erase.click()
    height, width = automatic.shape
    canvas.radius = max(8, height // 10)
    _stroke(
        canvas,
        [(width // 8, height // 2), (width // 2, height // 2), (7 * width // 8, height // 2)],
    )
    assert (canvas.mask[height // 2] == 0).all()
    assert panel.undo_button.isEnabled()
    qtbot.waitUntil(lambda: session.library.item(item.id).cutout == "edited", timeout=5000)
    edited = session.library.item(item.id)
    assert edited.cutout_version == item.cutout_version + 1
    assert np.array_equal(session.service.mask(item.id), canvas.mask)
    wait_idle(qtbot, window)
    assert not np.allclose(_features(session, item.id), cut_out, atol=1e-3)
    assert session.item(item.id).colours  # found again on the new cut-out

    # Undo: the automatic mask again, saved as the person's, and the features come back.
    panel.undo()
    assert np.array_equal(canvas.mask, automatic)
    assert not panel.undo_button.isEnabled()
    qtbot.waitUntil(
        lambda: session.library.item(item.id).cutout_version == edited.cutout_version + 1,
        timeout=5000,
    )
    assert np.array_equal(session.service.mask(item.id), automatic)
    wait_idle(qtbot, window)
    assert np.allclose(_features(session, item.id), cut_out, atol=1e-4)

    # Use the original photo: the models read the photo as it is; untick, and back again.
    panel.original.setChecked(True)
    assert session.library.item(item.id).cutout_off
    assert not panel.erase.isEnabled()
    wait_idle(qtbot, window)
    original = _features(session, item.id)
    assert not np.allclose(original, cut_out, atol=1e-3)
    panel.original.setChecked(False)
    assert not session.library.item(item.id).cutout_off
    wait_idle(qtbot, window)
    assert np.allclose(_features(session, item.id), cut_out, atol=1e-4)


def test_an_item_without_a_cut_out_shows_its_photo(qtbot, window):
    session, page = window.session, window.wardrobe
    item = session.library.items()[0]
    with session.library.writing():
        session.library._conn.execute("UPDATE items SET cutout = NULL WHERE id = ?", (item.id,))
    session._refresh_item(item.id)
    page.select_item(item.id)
    assert not page.detail.cutout.isVisible()
    assert page.detail.photo.isVisible()


def test_the_grid_shows_garments_cut_out_when_the_view_asks(qtbot, window):
    from stylist.settings import Settings
    from stylist.vision.cutout import LIGHT_GROUND

    session, page = window.session, window.wardrobe
    item = next(i for i in session.library.items() if i.uses_cutout)
    spec = page.model.spec
    row = page.model.row_of(item.id)
    index = page.model.index(row)

    def picture():
        page.model.data(index, 1)  # DecorationRole: asks the cache
        qtbot.waitUntil(lambda: page.thumbs.peek(item.id, spec) is not None, timeout=10000)
        image = page.thumbs.peek(item.id, spec).toImage()
        # in the middle of the top edge, a little way in: the cut-out's margin of plain ground
        colour = image.pixelColor(image.width() // 2, max(2, image.height() // 40))
        return colour.red(), colour.green(), colour.blue()

    assert not window.cutouts_action.isChecked()
    photographed = picture()
    window.cutouts_action.trigger()
    assert session.service.settings.show_cutouts
    assert Settings.load(session.paths).show_cutouts  # a view setting that is kept
    assert page.thumbs.peek(item.id, spec) is None  # the old pictures are gone
    cut = picture()
    assert cut != photographed
    assert max(abs(a - b) for a, b in zip(cut, LIGHT_GROUND, strict=True)) <= 6
    window.cutouts_action.trigger()
    assert not session.service.settings.show_cutouts
    assert picture() == photographed
