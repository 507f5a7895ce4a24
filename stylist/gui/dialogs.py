"""The About box (versions and licences), the keyboard shortcuts sheet and the settings dialog
(backbone with its install flow, device with what is in use and why, library location).
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import QUrl, qVersion
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QVBoxLayout,
)

from stylist import __version__
from stylist.gui import icons
from stylist.gui.session import Session
from stylist.gui.widgets import ActivityBar, FittedDialog, button, label
from stylist.paths import Paths
from stylist.settings import Settings

LICENCES = [
    ("Stylist", "MIT licence"),
    (
        "Demo wardrobe photos",
        "CC0 1.0 (public domain) — the clothing dataset by Alexey Grigorev",
    ),
    ("EfficientNet-Lite0 backbone", "Apache License 2.0 — Google / TensorFlow model garden"),
    ("VGG-16 weights (optional)", "BSD 3-Clause — torchvision (ImageNet-trained)"),
    ("Qt and Qt for Python", "LGPL v3 — The Qt Company"),
    ("Icons", "drawn for Stylist, MIT licence"),
]

SHORTCUTS = [
    ("Ctrl+1 … Ctrl+4", "Wardrobe, Suggestions, Favourites, My style"),
    ("Ctrl+O / Ctrl+Shift+O", "Import photos / a folder"),
    ("Ctrl+F", "Search the wardrobe"),
    ("F2", "Rename the selected item"),
    ("Del", "Delete the selected items (undo for a few seconds)"),
    ("Ctrl+Z", "Undo the last deletion or verdict"),
    ("L or ↑", "Like the current outfit"),
    ("D or ↓", "Dislike the current outfit"),
    ("W", "Wore the current outfit"),
    ("F", "Add the current outfit to favourites"),
    ("← / →", "Previous / next outfit"),
    ("F5", "Refresh suggestions"),
    ("Ctrl+T", "Train your style model now"),
    ("Ctrl+E", "Export favourites"),
    ("Ctrl+,", "Settings"),
]

BACKBONES = [
    ("efficientnet-lite0", "Compact", "EfficientNet-Lite0, shipped with Stylist: fast on any CPU"),
    (
        "vgg16",
        "Detailed",
        "VGG-16 as in the FashionNet paper: a 530 MB download, slower, sometimes better",
    ),
    (
        "efficientnet-lite2",
        "Finer",
        "EfficientNet-Lite2, once installed (stylist models install efficientnet-lite2)",
    ),
]
THEMES = [("system", "Same as the system"), ("light", "Light"), ("dark", "Dark")]
DEVICES = [("auto", "Automatic"), ("cpu", "CPU"), ("cuda", "GPU (NVIDIA CUDA)")]


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions() -> list[tuple[str, str]]:
    """Versions of what Stylist runs on, read from package metadata (nothing heavy imported)."""
    runtime = _version("onnxruntime-gpu")
    if runtime == "not installed":
        runtime = _version("onnxruntime")
    from stylist import build_info

    return [
        ("Stylist", build_info.describe()),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
        ("ONNX Runtime", runtime),
        ("PyTorch", _version("torch")),
        ("NumPy", _version("numpy")),
        ("Pillow", _version("pillow")),
        ("System", f"{platform.system()} {platform.release()} ({platform.machine()})"),
    ]


class AboutDialog(FittedDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Stylist")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 22, 24, 16)
        layout.setSpacing(10)
        head = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icons.app_icon().pixmap(56, 56))
        head.addWidget(logo)
        title = QVBoxLayout()
        title.addWidget(label("Stylist", "title"))
        title.addWidget(label(f"Version {__version__} · outfits from your own wardrobe", "muted"))
        head.addLayout(title, 1)
        layout.addLayout(head)
        layout.addWidget(
            label(
                "Suggestions come from FashionNet (He and Hu), running entirely on this "
                "computer: your photos never leave it.",
                "muted",
                wrap=True,
            )
        )
        layout.addWidget(label("Versions", "h2"))
        form = QFormLayout()
        for name, value in versions():
            value_label = label(value)
            form.addRow(label(name, "muted"), value_label)
        layout.addLayout(form)
        layout.addWidget(label("Licences", "h2"))
        lic = QFormLayout()
        for name, text in LICENCES:
            lic.addRow(label(name, "muted"), label(text, wrap=True))
        layout.addLayout(lic)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.text = "\n".join(f"{n}: {v}" for n, v in versions() + LICENCES)


class ShortcutsDialog(FittedDialog):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.addWidget(label("Keyboard shortcuts", "title"))
        form = QFormLayout()
        form.setHorizontalSpacing(24)
        for keys, what in SHORTCUTS:
            form.addRow(label(keys, "h2"), label(what))
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def installed_backbones(paths: Paths) -> set[str]:
    try:
        from stylist.vision.backbones import available_backbones

        return {spec.id for spec in available_backbones(paths)}
    except Exception:
        return {"efficientnet-lite0"}


class SettingsDialog(FittedDialog):
    """Backbone, device and library location; saved through the session on OK."""

    def __init__(self, session: Session, parent=None) -> None:
        super().__init__(parent)
        self.session = session
        self.setWindowTitle("Settings")
        self.setMinimumWidth(640)
        current = session.service.settings
        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 20, 22, 16)
        layout.setSpacing(14)
        layout.addWidget(label("Settings", "title"))

        box = QGroupBox("How photos are seen (backbone)")
        b = QVBoxLayout(box)
        self.backbone_group = QButtonGroup(self)
        self.backbone_buttons: dict[str, QRadioButton] = {}
        self.installed = installed_backbones(session.paths)
        for backbone_id, name, text in BACKBONES:
            # The name on the button, the description wrapped beneath it: one long button
            # label would be cut off at the dialog's narrowest.
            radio = QRadioButton(name)
            radio.setProperty("backbone", backbone_id)
            radio.setToolTip(text)
            self.backbone_group.addButton(radio)
            self.backbone_buttons[backbone_id] = radio
            b.addWidget(radio)
            description = label(text, "muted", wrap=True)
            description.setContentsMargins(26, 0, 0, 4)
            b.addWidget(description)
        self.backbone_buttons.get(
            current.backbone, self.backbone_buttons["efficientnet-lite0"]
        ).setChecked(True)
        self.install_text = label("", "muted", wrap=True)
        b.addWidget(self.install_text)
        row = QHBoxLayout()
        self.install_button = button("Install VGG-16…", "import", "", "Download and install VGG-16")
        self.install_button.clicked.connect(lambda: self._install())
        self.install_file_button = button(
            "From a file…", "folder", "", "Install from a VGG-16 weights file you already have"
        )
        self.install_file_button.clicked.connect(self._install_from_file)
        row.addWidget(self.install_button)
        row.addWidget(self.install_file_button)
        row.addStretch(1)
        b.addLayout(row)
        self.install_activity = ActivityBar()
        self.install_activity.cancelClicked.connect(self._cancel_install)
        b.addWidget(self.install_activity)
        b.addWidget(
            label(
                "Changing the backbone analyses every photo again and uses that backbone's "
                "style model; where it has none yet, the one in use is carried over to it on "
                "your own wardrobe first.",
                "small",
                wrap=True,
            )
        )
        layout.addWidget(box)

        box = QGroupBox("Appearance")
        look = QFormLayout(box)
        self.theme = QComboBox()
        for value, text in THEMES:
            self.theme.addItem(text, value)
        self.theme.setCurrentIndex(max(0, self.theme.findData(getattr(current, "theme", "system"))))
        look.addRow("Look", self.theme)
        layout.addWidget(box)

        box = QGroupBox("Where the models run (device)")
        d = QFormLayout(box)
        self.device = QComboBox()
        for value, text in DEVICES:
            self.device.addItem(text, value)
        self.device.setCurrentIndex(max(0, self.device.findData(current.device)))
        self.device.currentIndexChanged.connect(self._probe_device)
        d.addRow("Device", self.device)
        self.device_text = label("Checking …", "muted", wrap=True)
        d.addRow("In use", self.device_text)
        layout.addWidget(box)

        box = QGroupBox("Library")
        lib = QVBoxLayout(box)
        self.location = label(str(session.paths.data_dir), wrap=True)
        self.location.setToolTip("Photos, thumbnails, features and your style models live here")
        lib.addWidget(self.location)
        row = QHBoxLayout()
        show = button("Show in file manager", "folder")
        show.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(session.paths.data_dir)))
        )
        self.move_button = button("Move library…", "export")
        self.move_button.clicked.connect(self._move)
        row.addWidget(show)
        row.addWidget(self.move_button)
        row.addStretch(1)
        lib.addLayout(row)
        self.move_activity = ActivityBar()
        lib.addWidget(self.move_activity)
        if session.demo:
            self.move_button.setEnabled(False)
            self.move_button.setToolTip("The demo wardrobe stays where it is")
        layout.addWidget(box)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._install_task = None
        self._update_install()
        self._probe_device()

    # ------------------------------------------------------------ backbone
    def chosen_backbone(self) -> str:
        checked = self.backbone_group.checkedButton()
        return checked.property("backbone") if checked else "efficientnet-lite0"

    def _update_install(self) -> None:
        for backbone_id, radio in self.backbone_buttons.items():
            if backbone_id not in ("efficientnet-lite0", "vgg16"):
                radio.setEnabled(backbone_id in self.installed)
        have_vgg = "vgg16" in self.installed
        self.backbone_buttons["vgg16"].setEnabled(have_vgg)
        if have_vgg:
            self.install_text.setText("VGG-16 is installed.")
            self.install_button.hide()
            self.install_file_button.hide()
        else:
            self.install_text.setText(
                "VGG-16 is not installed: it is downloaded once (about 530 MB), checked and "
                "converted on this computer."
            )

    def _install_from_file(self) -> None:
        weights, _ = QFileDialog.getOpenFileName(
            self, "VGG-16 weights (torchvision state dict)", "", "PyTorch weights (*.pth *.pt)"
        )
        if weights:
            self._install(Path(weights))

    def _install(self, weights: Path | None = None) -> None:
        if self._install_task is not None:
            return
        service = self.session.service
        self.install_button.setEnabled(False)
        self.install_file_button.setEnabled(False)

        def progress(done: int, total: int, text: str) -> None:
            self.install_activity.set_progress(text or "Installing VGG-16 …", done, total)

        def done(_result: Any) -> None:
            self.installed = installed_backbones(self.session.paths)
            self.install_activity.hide()
            self._update_install()
            if "vgg16" in self.installed:
                self.backbone_buttons["vgg16"].setChecked(True)

        def failed(message: str, details: str) -> None:
            self.install_activity.hide()
            self.install_button.setEnabled(True)
            self.install_file_button.setEnabled(True)
            self.install_text.setText(f"Installing VGG-16 failed: {message}")

        def finished() -> None:
            self._install_task = None

        self.install_activity.set_progress("Installing VGG-16 …", 0, 0)
        self.install_activity.cancel_button.setVisible(True)
        self._install_task = self.session.tasks.start(
            lambda progress, cancel: service.install_backbone(
                "vgg16", weights_file=weights, progress=progress, cancel=cancel
            ),
            "Installing VGG-16",
            kind="install",
            on_done=done,
            on_failed=failed,
            on_progress=progress,
            on_finished=finished,
        )

    def _cancel_install(self) -> None:
        if self._install_task is not None:
            self._install_task.cancel.set()

    # ------------------------------------------------------------ device
    def _probe_device(self, *_args: object) -> None:
        """Open the backbone on the chosen device in a worker to say what is really used."""
        device = self.device.currentData()
        backbone = self.chosen_backbone()
        paths = self.session.paths
        self.device_text.setText("Checking …")
        self._probe_generation = getattr(self, "_probe_generation", 0) + 1
        generation = self._probe_generation

        def probe(progress, cancel) -> str:
            from stylist.vision.backbones import get_backbone
            from stylist.vision.extractor import Extractor, cuda_unavailable_reason

            spec = get_backbone(backbone, paths)
            extractor = Extractor(spec, device=device)
            try:
                text = extractor.describe()
            finally:
                extractor.close()
            if device == "auto" and "GPU" not in text and "no GPU" not in text:
                text += f" — no GPU: {cuda_unavailable_reason()}"
            return text

        def done(text: str) -> None:
            if generation == self._probe_generation:
                self.device_text.setText(text)
                self.refit()

        def failed(message: str, details: str) -> None:
            if generation == self._probe_generation:
                self.device_text.setText(message)
                self.refit()

        self.session.tasks.start(
            probe,
            "Checking the device",
            kind="probe",
            on_done=done,
            on_failed=failed,
            quiet=True,
        )

    # ------------------------------------------------------------ library location
    def _move(self) -> None:
        target = QFileDialog.getExistingDirectory(self, "Move the library to")
        if not target:
            return
        service = self.session.service
        self.move_button.setEnabled(False)

        def done(_result: Any) -> None:
            self.move_activity.hide()
            self.location.setText(str(self.session.paths.data_dir))
            self.move_button.setEnabled(True)
            self.session.reload_items()

        def failed(message: str, details: str) -> None:
            self.move_activity.hide()
            self.move_button.setEnabled(True)
            self.session.problem.emit("Moving the library", message, details)

        self.move_activity.set_progress("Moving the library …", 0, 0)
        self.session.commit_deletions()
        self.session.tasks.start(
            lambda progress, cancel: service.move_library(target, progress=progress, cancel=cancel),
            "Moving the library",
            kind="move",
            on_done=done,
            on_failed=failed,
            on_progress=lambda d, t, s: self.move_activity.set_progress(s or "Moving …", d, t),
        )

    # ------------------------------------------------------------ result
    def chosen(self) -> Settings:
        current = self.session.service.settings
        return Settings(
            backbone=self.chosen_backbone(),
            device=self.device.currentData(),
            net=getattr(current, "net", "C"),
            theme=self.theme.currentData(),
        )

    def accept(self) -> None:
        self.session.apply_settings(self.chosen())
        super().accept()
