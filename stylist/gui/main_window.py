"""The main window: a sidebar with the four pages, menus with shortcuts, drag-and-drop import,
the status bar with its background-work indicator, the undo toast, and remembered geometry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from stylist.gui import icons, theme
from stylist.gui.dialogs import AboutDialog, SettingsDialog, ShortcutsDialog
from stylist.gui.favourites import FavouritesPage
from stylist.gui.mystyle import MyStylePage
from stylist.gui.session import Proposal, Session
from stylist.gui.suggestions import SuggestionsPage
from stylist.gui.thumbnails import ThumbnailCache
from stylist.gui.wardrobe import PHOTO_FILTER, ImportReportDialog, WardrobePage
from stylist.gui.welcome import WelcomePage
from stylist.gui.widgets import ErrorReporter, Spinner, Toast, button, label, refresh_icons
from stylist.library.importer import ImportReport

PAGES = (
    ("wardrobe", "Wardrobe", "wardrobe"),
    ("suggestions", "Suggestions", "suggestions"),
    ("favourites", "Favourites", "heart"),
    ("mystyle", "My style", "chart"),
)


class TaskIndicator(QWidget):
    """Status-bar view of background work: a spinner, what runs, its progress, and Cancel."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.setSpacing(8)
        self.spinner = Spinner()
        self.text = QLabel()
        self.bar = QProgressBar()
        self.bar.setFixedWidth(120)
        self.bar.setTextVisible(False)
        self.cancel = button("", "close", "ghost", "Cancel this work (what is done is kept)")
        self.cancel.setFixedSize(QSize(26, 22))
        self.cancel.clicked.connect(self._cancel)
        for widget in (self.spinner, self.text, self.bar, self.cancel):
            layout.addWidget(widget)
        session.tasks.changed.connect(self.update_state)
        self.update_state()

    def update_state(self) -> None:
        tasks = self.session.tasks.active()
        if not tasks:
            self.spinner.stop()
            self.hide()
            return
        task = tasks[0]
        text = task.label
        if task.total:
            text += f" {task.done_count}/{task.total}"
        if len(tasks) > 1:
            text += f"  (+{len(tasks) - 1} more)"
        self.text.setText(text)
        self.setToolTip("\n".join(t.label for t in tasks))
        if task.total:
            self.bar.setRange(0, task.total)
            self.bar.setValue(task.done_count)
        else:
            self.bar.setRange(0, 0)
        self.cancel.setVisible(task.kind not in ("demo", "export"))
        self.spinner.start()
        self.show()

    def _cancel(self) -> None:
        tasks = self.session.tasks.active()
        if tasks:
            tasks[0].cancel.set()


class PageList(QListWidget):
    """The sidebar's page list. It never takes letters for a type-ahead search: L, D, W and F
    belong to the page beside it, whatever has the focus."""

    def keyboardSearch(self, search: str) -> None:  # noqa: N802 - Qt override
        return


class MainWindow(QMainWindow):
    def __init__(self, session: Session, settings: QSettings, thumbs: ThumbnailCache) -> None:
        super().__init__()
        self.session, self.settings, self.thumbs = session, settings, thumbs
        self.errors = ErrorReporter(self)
        self.setWindowIcon(icons.app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(QSize(960, 620))

        central = QWidget()
        self.setCentralWidget(central)
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)

        sidebar = QFrame()
        sidebar.setObjectName("sidebar")
        sidebar.setFixedWidth(212)
        side = QVBoxLayout(sidebar)
        side.setContentsMargins(14, 18, 14, 14)
        side.setSpacing(6)
        brand_row = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icons.app_icon().pixmap(28, 28))
        brand_row.addWidget(logo)
        brand = QLabel("Stylist")
        brand.setObjectName("brand")
        brand_row.addWidget(brand, 1)
        side.addLayout(brand_row)
        self.nav = PageList()
        self.nav.setObjectName("nav")
        self.nav.setIconSize(QSize(20, 20))
        self.nav.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.nav.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        for key, text, icon_name in PAGES:
            entry = QListWidgetItem(icons.icon(icon_name), text)
            entry.setData(Qt.ItemDataRole.UserRole, key)
            entry.setData(Qt.ItemDataRole.UserRole + 1, icon_name)
            self.nav.addItem(entry)
        self.nav.setAccessibleName("Pages")
        side.addWidget(self.nav, 1)
        self.demo_box = QFrame()
        self.demo_box.setObjectName("banner")
        d = QVBoxLayout(self.demo_box)
        d.setContentsMargins(10, 8, 10, 8)
        d.addWidget(label("You're trying the demo wardrobe.", "small", wrap=True))
        self.leave_demo_button = button("Back to my wardrobe", kind="ghost")
        self.leave_demo_button.clicked.connect(self.session.leave_demo)
        d.addWidget(self.leave_demo_button)
        side.addWidget(self.demo_box)
        # Guesses never move on their own: when corrections would change some, this offers it.
        self.review_box = QFrame()
        self.review_box.setObjectName("banner")
        r = QVBoxLayout(self.review_box)
        r.setContentsMargins(10, 8, 10, 8)
        self.review_text = label("", "small", wrap=True)
        r.addWidget(self.review_text)
        self.review_button = button("Review", kind="ghost")
        self.review_button.clicked.connect(self.review_categories)
        r.addWidget(self.review_button)
        self.review_box.hide()
        session.categoryReview.connect(self._category_review)
        side.addWidget(self.review_box)
        self.settings_button = button("Settings", "settings", "ghost", "Settings (Ctrl+,)")
        self.settings_button.clicked.connect(self.open_settings)
        self.settings_button.setStyleSheet("text-align: left; padding-left: 12px;")
        side.addWidget(self.settings_button)
        row.addWidget(sidebar)

        self.stack = QStackedWidget()
        row.addWidget(self.stack, 1)
        self.welcome = WelcomePage()
        self.wardrobe = WardrobePage(session, thumbs)
        self.wardrobe_stack = QStackedWidget()
        self.wardrobe_stack.addWidget(self.welcome)
        self.wardrobe_stack.addWidget(self.wardrobe)
        self.suggestions = SuggestionsPage(session, thumbs)
        self.favourites = FavouritesPage(session, thumbs)
        self.mystyle = MyStylePage(session)
        for page in (self.wardrobe_stack, self.suggestions, self.favourites, self.mystyle):
            self.stack.addWidget(page)
        self.nav.currentRowChanged.connect(self._page_switched)
        # Clicking the page already shown also hands the keys back to it.
        self.nav.itemClicked.connect(lambda *_: self.focus_page())

        self.welcome.importFilesRequested.connect(self.import_files)
        self.welcome.importFolderRequested.connect(self.import_folder)
        self.welcome.demoRequested.connect(self.open_demo)
        self.wardrobe.importFilesRequested.connect(self.import_files)
        self.wardrobe.importFolderRequested.connect(self.import_folder)
        self.wardrobe.showOutfitsWith.connect(self.show_outfits_with)
        self.suggestions.importRequested.connect(self.import_files)

        self.status_text = QLabel()
        self.status_text.setContentsMargins(12, 0, 0, 0)
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.timeout.connect(self.status_text.clear)
        self.statusBar().addWidget(self.status_text, 1)
        self.indicator = TaskIndicator(session)
        self.statusBar().addPermanentWidget(self.indicator)
        self.toast = Toast(central)
        self.toast.undoClicked.connect(self.undo)

        self._build_menus()
        session.itemsChanged.connect(self._update_welcome)
        session.pictureChanged.connect(lambda i: self.thumbs.forget(None if i < 0 else i))
        session.serviceReplaced.connect(self._library_switched)
        session.status.connect(self.show_status)
        session.problem.connect(self.errors.show)
        session.undoChanged.connect(self._undo_changed)
        session.importFinished.connect(self._import_finished)
        session.tasks.changed.connect(self._update_welcome)

        self.nav.setCurrentRow(0)
        self._library_switched(initial=True)
        self._restore_geometry()

    # ------------------------------------------------------------ menus
    def _action(
        self, text: str, slot, shortcut=None, icon_name: str = "", tip: str = ""
    ) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(icons.icon(icon_name))
        if shortcut is not None:
            if isinstance(shortcut, list):
                action.setShortcuts(shortcut)
            else:
                action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda *_: slot())
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.import_files_action = self._action(
            "Import &Photos…", self.import_files, QKeySequence.StandardKey.Open, "photos"
        )
        self.import_folder_action = self._action(
            "Import &Folder…", self.import_folder, "Ctrl+Shift+O", "folder"
        )
        self.demo_action = self._action(
            "Try the &Demo Wardrobe", self.open_demo, icon_name="sparkle"
        )
        self.export_action = self._action(
            "&Export Favourites…", self.export_favourites, "Ctrl+E", "export"
        )
        self.settings_action = self._action(
            "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences, "settings"
        )
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        for action in (self.import_files_action, self.import_folder_action, self.demo_action):
            file.addAction(action)
        file.addSeparator()
        file.addAction(self.export_action)
        file.addSeparator()
        file.addAction(self.settings_action)
        file.addSeparator()
        file.addAction(self.quit_action)

        edit = bar.addMenu("&Edit")
        self.undo_action = self._action("&Undo", self.undo, QKeySequence.StandardKey.Undo, "undo")
        self.undo_action.setEnabled(False)
        self.find_action = self._action("&Find", self.find, QKeySequence.StandardKey.Find, "search")
        edit.addAction(self.undo_action)
        edit.addSeparator()
        edit.addAction(self.find_action)

        view = bar.addMenu("&View")
        self.page_actions = []
        for i, (_, text, icon_name) in enumerate(PAGES):
            action = self._action(text, lambda i=i: self.show_page(i), f"Ctrl+{i + 1}", icon_name)
            view.addAction(action)
            self.page_actions.append(action)
        view.addSeparator()
        self.cutouts_action = self._action(
            "Show Garments &Cut Out",
            lambda: self.session.set_show_cutouts(self.cutouts_action.isChecked()),
            tip="Show each garment cut out of its background in the wardrobe and outfit cards",
        )
        self.cutouts_action.setCheckable(True)
        self.cutouts_action.setChecked(
            bool(getattr(self.session.service.settings, "show_cutouts", False))
        )
        view.addAction(self.cutouts_action)
        self.refresh_action = self._action(
            "&Refresh Suggestions",
            self.refresh_suggestions,
            QKeySequence.StandardKey.Refresh,
            "refresh",
        )
        if self.refresh_action.shortcut().isEmpty():
            self.refresh_action.setShortcut(QKeySequence("F5"))
        view.addAction(self.refresh_action)

        outfit = bar.addMenu("&Outfit")
        self.compose_action = self._action("&Compose an Outfit…", self.compose, "Ctrl+N", "plus")
        self.train_action = self._action(
            "&Train My Style Now", self.session.train, "Ctrl+T", "sparkle"
        )
        outfit.addAction(self.compose_action)
        outfit.addAction(self.train_action)

        helpmenu = bar.addMenu("&Help")
        self.shortcuts_action = self._action(
            "&Keyboard Shortcuts", lambda: ShortcutsDialog(self).open(), "Ctrl+/"
        )
        self.about_action = self._action("&About Stylist", self.about, icon_name="info")
        helpmenu.addAction(self.shortcuts_action)
        helpmenu.addAction(self.about_action)

    # ------------------------------------------------------------ pages
    def show_page(self, index: int) -> None:
        self.nav.setCurrentRow(index)
        self.focus_page()

    def _page_switched(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        self.focus_page()

    def focus_page(self) -> None:
        """Give the keyboard to the content of the page shown, so its keys work at once."""
        page = self.stack.currentWidget()
        if isinstance(page, QStackedWidget):
            page = page.currentWidget()
        focus_content = getattr(page, "focus_content", None)
        if callable(focus_content):
            focus_content()
        elif page is not None:
            page.setFocus(Qt.FocusReason.OtherFocusReason)

    def current_page(self) -> str:
        return PAGES[self.stack.currentIndex()][0]

    def _update_welcome(self) -> None:
        empty = self.session.loaded and not self.session.items
        busy = any(self.session.tasks.running(k) is not None for k in ("import", "demo"))
        showing_welcome = empty and not busy
        self.wardrobe_stack.setCurrentWidget(self.welcome if showing_welcome else self.wardrobe)

    def _library_switched(self, initial: bool = False) -> None:
        self.thumbs.forget()
        self.cutouts_action.setChecked(
            bool(getattr(self.session.service.settings, "show_cutouts", False))
        )
        demo = self.session.demo
        self.demo_box.setVisible(demo)
        self.demo_action.setEnabled(not demo)
        # Ending with the application's display name keeps Qt from appending it a second time.
        title = "Demo wardrobe — Stylist" if demo else "Stylist"
        self.setWindowTitle(title)
        self._update_welcome()

    def show_outfits_with(self, item_id: int) -> None:
        self.show_page(1)
        self.suggestions.set_with_items([item_id])

    def refresh_suggestions(self) -> None:
        self.show_page(1)
        self.suggestions.refresh()

    def compose(self) -> None:
        self.show_page(1)
        self.suggestions.compose()

    def find(self) -> None:
        self.show_page(0)
        if self.wardrobe_stack.currentWidget() is self.wardrobe:
            self.wardrobe.focus_search()

    # ------------------------------------------------------------ import
    def import_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import photos", "", PHOTO_FILTER)
        if files:
            self.import_paths([Path(f) for f in files])

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of photos")
        if folder:
            self.import_paths([Path(folder)])

    def import_paths(self, paths: list[Path]) -> None:
        if self.session.import_paths(paths) is not None:
            self.show_page(0)
            self.wardrobe_stack.setCurrentWidget(self.wardrobe)

    def _import_finished(self, report: ImportReport) -> None:
        if report.failed:
            self.report_dialog = ImportReportDialog(report, self)
            self.report_dialog.open()
        else:
            n = len(report.added)
            dupes = len(report.duplicates)
            text = f"Imported {n} photo{'s' if n != 1 else ''}"
            if dupes:
                text += f"; {dupes} already in your wardrobe"
            self.toast.show_message(text, undo=False, msecs=4000)

    def open_demo(self) -> None:
        self.session.open_demo()
        self.show_page(0)
        self.wardrobe_stack.setCurrentWidget(self.wardrobe)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)

    # ------------------------------------------------------------ other actions
    def export_favourites(self) -> None:
        self.show_page(2)
        self.favourites.export()

    def _category_review(self, proposals: list[Proposal]) -> None:
        n = len(proposals)
        self.review_text.setText(
            f"{n} item{'s' if n != 1 else ''} may be in the wrong category — review"
        )
        self.review_box.setVisible(bool(proposals))

    def review_categories(self) -> None:
        """Show what would move; move it only when the person says so."""
        from PySide6.QtWidgets import QMessageBox

        proposals = self.session.category_proposals
        if not proposals:
            return
        lines = [
            f"{item.name}: {item.category.value} → {category.value}"
            for item, category, _ in proposals[:15]
        ]
        if len(proposals) > 15:
            lines.append(f"… and {len(proposals) - 15} more")
        box = QMessageBox(self)
        box.setWindowTitle("Categories to review")
        box.setText("Your corrections suggest these items are in the wrong category. Move them?")
        box.setDetailedText("\n".join(lines))
        box.setInformativeText("\n".join(lines[:6]) + ("\n…" if len(lines) > 6 else ""))
        move = box.addButton("Move them", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Leave them", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is move:
            self.session.accept_category_review()
        else:
            self.session.dismiss_category_review()

    def open_settings(self) -> None:
        self.settings_dialog = SettingsDialog(self.session, self)
        self.settings_dialog.accepted.connect(self.apply_theme_setting)
        self.settings_dialog.open()

    def apply_theme_setting(self) -> None:
        """Use the look chosen in Settings (system, light or dark) from now on."""
        watcher = getattr(self, "theme_watcher", None)
        if watcher is not None:
            watcher.choose(self.session.service.settings.theme)

    def about(self) -> None:
        self.about_dialog = AboutDialog(self)
        self.about_dialog.open()

    def undo(self) -> None:
        if self.session.undo():
            self.toast.hide()

    def _undo_changed(self, text: str) -> None:
        self.undo_action.setEnabled(bool(text))
        self.undo_action.setText(f"&Undo {text[:1].lower() + text[1:]}" if text else "&Undo")
        if text:
            self.toast.show_message(text)
        else:
            self.toast.hide()

    def show_status(self, text: str) -> None:
        self.status_text.setText(text)
        self._status_timer.start(8000)

    def retheme(self, _theme: Any = None) -> None:
        """Redraw what carries theme colours in pixels (icons) after a light/dark switch."""
        refresh_icons(self)
        for i in range(self.nav.count()):
            entry = self.nav.item(i)
            entry.setIcon(icons.icon(entry.data(Qt.ItemDataRole.UserRole + 1)))
        self.update()

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    # ------------------------------------------------------------ geometry and quitting
    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 820)
        sizes = self.settings.value("wardrobe/splitter")
        if sizes is not None:
            self.wardrobe.splitter.restoreState(sizes)
        page = self.settings.value("window/page")
        if page is not None:
            try:
                self.nav.setCurrentRow(int(page))
            except (TypeError, ValueError):
                pass

    def save_geometry(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("wardrobe/splitter", self.wardrobe.splitter.saveState())
        self.settings.setValue("window/page", self.nav.currentRow())
        self.settings.sync()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.toast.isVisible():
            self.toast.place()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_geometry()
        self.session.shutdown()
        self.thumbs.wait(3000)
        event.accept()

    def theme_name(self) -> str:
        return theme.active().name
