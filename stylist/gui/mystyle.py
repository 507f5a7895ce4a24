"""The "My style" page: what the personal model has learned from, how good each version was on
held-out verdicts (validation NDCG over time, drawn with QPainter), training on demand, and going
back to an earlier version.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stylist.domain import Verdict
from stylist.gui import theme
from stylist.gui.session import Session
from stylist.gui.widgets import ActivityBar, button, label
from stylist.library.store import ModelVersion
from stylist.tune import MIN_VALIDATION_LIKES

NDCG_KEYS = ("val_mean_ndcg", "validation_mean_ndcg", "val_ndcg", "mean_ndcg", "ndcg")


def flatten(metrics: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def ndcg_of(metrics: dict) -> float | None:
    """The validation NDCG in a version's metrics, whatever the trainer called it."""
    flat = flatten(metrics)
    for key in NDCG_KEYS:
        for name, value in flat.items():
            if name.split(".")[-1] == key and _number(value):
                return float(value)
    for name, value in flat.items():
        if "ndcg" in name.lower() and _number(value):
            return float(value)
    return None


def validated(metrics: dict) -> bool:
    """Whether a version was checked on held-out verdicts (older versions: when they have a
    validation figure)."""
    if "validated" in (metrics or {}):
        return bool(metrics["validated"])
    return ndcg_of(metrics) is not None


def check_text(metrics: dict) -> str:
    """How a version's check on held-out verdicts reads, for the page and its table."""
    if not validated(metrics):
        return "not yet validated"
    old, new = metrics.get("old_val_mean_ndcg"), metrics.get("new_val_mean_ndcg")
    if _number(old) and _number(new):
        return f"{new:.3f} (was {old:.3f})"
    ndcg = ndcg_of(metrics)
    return f"{ndcg:.3f}" if ndcg is not None else "not yet validated"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def empty_chart_text(unvalidated: list[str]) -> str:
    """What the chart says when it has no point: no version at all, or versions not yet
    checked on set-aside verdicts (named, so the chart agrees with the table)."""
    if not unvalidated:
        return "No trained versions yet: the chart fills in as your model learns."
    names = ", ".join(unvalidated)
    many = len(unvalidated) > 1
    return (
        f"{names} {'are' if many else 'is'} trained but not yet validated: "
        f"{'their' if many else 'its'} point appears once enough verdicts are set aside "
        "to check it."
    )


class NdcgChart(QWidget):
    """Validation NDCG of each model version, oldest to newest; the version in use is ringed."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.points: list[tuple[str, float, bool]] = []  # (label, value, active)
        self.empty_text = empty_chart_text([])
        self.setMinimumHeight(180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(480, 200)

    def set_points(
        self, points: list[tuple[str, float, bool]], unvalidated: list[str] | None = None
    ) -> None:
        """The validated versions' points; ``unvalidated`` names the versions left out, so an
        empty chart says why beside a table that lists them."""
        self.points = points
        self.empty_text = empty_chart_text(unvalidated or [])
        tips = [
            f"{name}: {value:.3f}" + (" (in use)" if active else "")
            for name, value, active in points
        ]
        self.setToolTip("Validation NDCG (higher is better)\n" + "\n".join(tips))
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        t = theme.active()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        small = QFont(self.font())
        small.setPointSizeF(max(7.0, self.font().pointSizeF() * 0.85))
        painter.setFont(small)
        left, right, top, bottom = 40, 16, 12, 26
        area = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        if not self.points:
            painter.setPen(QColor(t.muted))
            painter.drawText(
                QRectF(self.rect()).adjusted(16, 0, -16, 0),
                int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap),
                self.empty_text,
            )
            return
        values = [v for _, v, _ in self.points]
        lo = max(0.0, math.floor((min(values) - 0.05) * 10) / 10)
        hi = min(1.0, math.ceil((max(values) + 0.05) * 10) / 10)
        if hi - lo < 0.1:
            hi = min(1.0, lo + 0.1)
        # Grid lines and their labels.
        painter.setPen(QPen(QColor(t.border), 1))
        steps = 4
        for i in range(steps + 1):
            v = lo + (hi - lo) * i / steps
            y = area.bottom() - area.height() * i / steps
            painter.setPen(
                QPen(QColor(t.border), 1, Qt.PenStyle.DashLine if i else Qt.PenStyle.SolidLine)
            )
            painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
            painter.setPen(QColor(t.muted))
            painter.drawText(
                QRectF(0, y - 8, left - 6, 16),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{v:.2f}",
            )
        n = len(self.points)

        def at(i: int, v: float) -> QPointF:
            x = area.left() + (area.width() * (i / (n - 1)) if n > 1 else area.width() / 2)
            y = area.bottom() - area.height() * (v - lo) / (hi - lo)
            return QPointF(x, y)

        pts = [at(i, v) for i, (_, v, _) in enumerate(self.points)]
        if n > 1:
            fill = QPainterPath(QPointF(pts[0].x(), area.bottom()))
            for p in pts:
                fill.lineTo(p)
            fill.lineTo(QPointF(pts[-1].x(), area.bottom()))
            fill.closeSubpath()
            soft = QColor(t.accent)
            soft.setAlpha(40)
            painter.fillPath(fill, soft)
            line = QPainterPath(pts[0])
            for p in pts[1:]:
                line.lineTo(p)
            pen = QPen(QColor(t.accent), 2.2)
            pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
            painter.setPen(pen)
            painter.drawPath(line)
        label_every = max(1, math.ceil(n / 8))
        for i, (p, (name, _, active)) in enumerate(zip(pts, self.points, strict=True)):
            painter.setPen(QPen(QColor(t.card), 2))
            painter.setBrush(QColor(t.accent))
            painter.drawEllipse(p, 4.5, 4.5)
            if active:
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.setPen(QPen(QColor(t.like), 2))
                painter.drawEllipse(p, 8, 8)
            if i % label_every == 0 or i == n - 1:
                painter.setPen(QColor(t.muted))
                painter.drawText(
                    QRectF(p.x() - 30, area.bottom() + 4, 60, 18),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    name,
                )


def stat_card(title: str) -> tuple[QFrame, Any]:
    card = QFrame()
    card.setProperty("card", True)
    layout = QVBoxLayout(card)
    layout.setContentsMargins(16, 12, 16, 12)
    layout.setSpacing(2)
    value = label("–", "stat")
    layout.addWidget(value)
    layout.addWidget(label(title, "muted"))
    return card, value


class MyStylePage(QScrollArea):
    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        body.setObjectName("scrollContent")
        self.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(24, 20, 24, 20)
        layout.setSpacing(14)
        layout.addWidget(label("My style", "title"))
        layout.addWidget(
            label(
                "Stylist learns your taste from every thumb: after a few new verdicts your "
                "model is fine-tuned in the background. About one verdict in five is set aside "
                "and never learned from; a new version is compared on those with the one in "
                "use and the general model, and used only if it is not worse than either. "
                f"Until enough are set aside ({MIN_VALIDATION_LIKES} likes), a new version is "
                "used but marked \u201cnot yet validated\u201d. Every version stays, so you can "
                "go back, or to the general model.",
                "muted",
                wrap=True,
            )
        )
        stats = QGridLayout()
        stats.setSpacing(12)
        self.likes_card, self.likes = stat_card("likes")
        self.dislikes_card, self.dislikes = stat_card("dislikes")
        self.worn_card, self.worn = stat_card("outfits worn")
        self.trained_card, self.trained = stat_card("last trained")
        for col, card in enumerate(
            (self.likes_card, self.dislikes_card, self.worn_card, self.trained_card)
        ):
            stats.addWidget(card, 0, col)
        layout.addLayout(stats)

        train = QFrame()
        train.setProperty("card", True)
        t = QVBoxLayout(train)
        t.setContentsMargins(16, 14, 16, 14)
        t.setSpacing(10)
        row = QHBoxLayout()
        text = QVBoxLayout()
        text.addWidget(label("Your style model", "h2"))
        self.model_text = label("", "muted", wrap=True)
        text.addWidget(self.model_text)
        row.addLayout(text, 1)
        self.train_button = button(
            "Train now", "sparkle", "primary", "Fine-tune on your verdicts now (Ctrl+T)"
        )
        self.train_button.clicked.connect(lambda: self.session.train())
        row.addWidget(self.train_button, 0, Qt.AlignmentFlag.AlignTop)
        self.general_button = button(
            "Use the general model",
            "undo",
            "",
            "Rank with the general model again; your versions stay, to go back to",
        )
        self.general_button.clicked.connect(self._use_general)
        row.addWidget(self.general_button, 0, Qt.AlignmentFlag.AlignTop)
        t.addLayout(row)
        self.auto = QCheckBox("Learn automatically as I judge outfits")
        self.auto.setChecked(session.auto_train)
        self.auto.toggled.connect(lambda on: setattr(self.session, "auto_train", on))
        t.addWidget(self.auto)
        self.activity = ActivityBar()
        self.activity.cancelClicked.connect(self._cancel)
        t.addWidget(self.activity)
        layout.addWidget(train)

        chart_card = QFrame()
        chart_card.setProperty("card", True)
        c = QVBoxLayout(chart_card)
        c.setContentsMargins(16, 14, 16, 14)
        c.addWidget(label("Quality on held-out verdicts", "h2"))
        c.addWidget(label("Validation NDCG of each version (higher is better)", "small"))
        self.chart = NdcgChart()
        c.addWidget(self.chart)
        layout.addWidget(chart_card)

        versions = QFrame()
        versions.setProperty("card", True)
        v = QVBoxLayout(versions)
        v.setContentsMargins(16, 14, 16, 14)
        head = QHBoxLayout()
        head.addWidget(label("Versions", "h2"))
        head.addStretch(1)
        self.use_button = button("Go back to this version", "undo", "", "Use the selected version")
        self.use_button.clicked.connect(self._use_selected)
        head.addWidget(self.use_button)
        self.general_button = button(
            "Use the general model", "", "", "Rank with the general model; your versions stay"
        )
        self.general_button.clicked.connect(self._use_general)
        head.addWidget(self.general_button)
        v.addLayout(head)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            ["Version", "Created", "Model", "Validation NDCG", "In use"]
        )
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMinimumHeight(160)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        v.addWidget(self.table)
        layout.addWidget(versions)
        layout.addStretch(1)

        session.verdictsChanged.connect(self.refresh)
        session.modelChanged.connect(self.refresh)
        session.trainingFinished.connect(lambda *_: self.refresh())
        session.serviceReplaced.connect(self.refresh)
        session.tasks.changed.connect(self._tasks_changed)
        self.versions: list[ModelVersion] = []
        self.refresh()

    def refresh(self) -> None:
        rows = self.session.verdict_rows()
        wears = getattr(self.session.library, "wears", None)
        worn = len(wears()) if wears else sum(1 for r in rows if r.source == "wore")
        likes = sum(1 for r in rows if r.verdict == Verdict.LIKE and r.source != "wore")
        dislikes = sum(1 for r in rows if r.verdict == Verdict.DISLIKE)
        self.likes.setText(str(likes))
        self.dislikes.setText(str(dislikes))
        self.worn.setText(str(worn))
        self.versions = self.session.model_versions()
        self.trained.setText(self.versions[-1].created_at[:10] if self.versions else "never")
        self.trained_card.setToolTip(self.versions[-1].created_at if self.versions else "")
        active = next((v for v in self.versions if v.active), None)
        self.general_button.setEnabled(active is not None)
        if active is not None:
            check = check_text(active.metrics)
            self.model_text.setText(
                f"Version {active.id} is in use ({active.backbone}, net {active.net}), "
                + (
                    "not yet validated: too few verdicts are set aside to check it on yet."
                    if check == "not yet validated"
                    else f"validation NDCG {check}."
                )
            )
            self.train_button.setEnabled(True)
        elif self.versions:
            self.model_text.setText(
                "Suggestions use the general model; your versions are kept below, to go back to."
            )
            self.train_button.setEnabled(True)
        else:
            self.model_text.setText(
                "No personal version yet: suggestions use the general model. Judge a few "
                "outfits and your own model is trained from them."
            )
            self.train_button.setEnabled(True)
        self.general_button.setEnabled(active is not None)
        self.chart.set_points(
            [
                (f"v{ver.id}", ndcg_of(ver.metrics), ver.active)
                for ver in self.versions
                if validated(ver.metrics) and ndcg_of(ver.metrics) is not None
            ],
            [
                f"v{ver.id}"
                for ver in self.versions
                if not (validated(ver.metrics) and ndcg_of(ver.metrics) is not None)
            ],
        )
        self.table.setRowCount(len(self.versions))
        for r, ver in enumerate(reversed(self.versions)):
            cells = [
                f"v{ver.id}",
                ver.created_at.replace("T", " ")[:16],
                f"{ver.backbone} · {ver.net}",
                check_text(ver.metrics),
                "✓ in use" if ver.active else "",
            ]
            for c, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                cell.setData(Qt.ItemDataRole.UserRole, ver.id)
                metrics = ", ".join(
                    f"{k} {v:.3f}" if _number(v) else f"{k} {v}"
                    for k, v in flatten(ver.metrics).items()
                )
                cell.setToolTip(metrics)
                self.table.setItem(r, c, cell)
        self._selection_changed()

    def selected_version(self) -> int | None:
        items = self.table.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _selection_changed(self) -> None:
        chosen = self.selected_version()
        active = {v.id for v in self.versions if v.active}
        self.use_button.setEnabled(chosen is not None and chosen not in active)

    def _use_selected(self) -> None:
        chosen = self.selected_version()
        if chosen is not None:
            self.session.use_model_version(chosen)
            self.session.status.emit(f"Now using version {chosen} of your style model.")

    def _use_general(self) -> None:
        self.session.use_general_model()
        self.session.status.emit("Now using the general model; your versions stay below.")

    def _tasks_changed(self) -> None:
        task = self.session.tasks.running("train")
        self._task = task
        if task is None:
            self.activity.hide()
            return
        text = task.current or "Learning your style …"
        self.activity.set_progress(text, task.done_count, task.total)

    def _cancel(self) -> None:
        task = getattr(self, "_task", None)
        if task is not None:
            task.cancel.set()
