"""Screenshots of every main screen of the desktop app, rendered in a real window under Xvfb.

``make screenshots`` runs this: it starts a virtual X server (unless ``--display`` says to use the
current one), builds a library from the demo wardrobe in a temporary folder and uses it the way a
person would (real features, real suggestions, a few thumbs and favourites, training where the
service can train), then saves each screen to ``docs/screenshots/<name>.png``, in the light look
and a few in the dark one.

Needs the Xvfb and xcb packages (Debian: xvfb libxcb-cursor0 libxkbcommon-x11-0 …).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "wardrobe-photos"
sys.path.insert(0, str(REPO))
DEMO = REPO / "resources" / "demo-wardrobe"
SIZE = (1280, 820)
# Every page at the window's minimum size, a laptop's and a large screen's, in both looks.
PAGE_SIZES = ((960, 620), (1280, 800), (2560, 1440))
PAGES = ("wardrobe", "suggestions", "favourites", "my-style")


def start_xvfb(width: int = 2600, height: int = 1500) -> subprocess.Popen:
    """A virtual X server on a free display; sets DISPLAY for this process."""
    if shutil.which("Xvfb") is None:
        sys.exit("screenshots: Xvfb is not installed (Debian/Ubuntu: apt-get install xvfb)")
    read, write = os.pipe()
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
            "-dpi",
            "96",
        ],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        sys.exit("screenshots: Xvfb did not start")
    os.environ["DISPLAY"] = f":{number}"
    return server


def build_library(home: Path) -> None:
    """The demo wardrobe as a person's own library, used a little: features, thumbs,
    favourites, and training where this build's service offers it."""
    from stylist import paths
    from stylist.domain import Verdict
    from stylist.service import Stylist

    with Stylist(paths.for_home(home)) as service:
        service.import_photos([DEMO])
        # A few more real photos (CC0) dropped in without a folder to name their category:
        # they show the unsorted items with the category the model guesses.
        if (SHARED / "items.json").is_file():
            import json

            entries = json.loads((SHARED / "items.json").read_text())
            chosen = []
            for slot in ("shoes", "top", "bottom"):
                chosen += [e for e in entries if e["slot"] == slot and e["contributor_id"] == 37][
                    :1
                ]
            camera = home.parent / f"{home.name}-camera"
            camera.mkdir()
            for n, entry in enumerate(chosen):  # named the way a phone names them
                shutil.copyfile(SHARED / entry["file"], camera / f"IMG_{3101 + n}.jpg")
            service.import_photos([camera])
            # Three more dresses (in a "dresses" folder: one-pieces), for one-piece outfits.
            dresses = home.parent / f"{home.name}-dresses" / "dresses"
            dresses.mkdir(parents=True)
            for entry in [e for e in entries if e["label"] == "Dress"][:3]:
                shutil.copyfile(SHARED / entry["file"], dresses / Path(entry["file"]).name)
            service.import_photos([dresses.parent])
        if callable(getattr(service, "extract_features", None)):
            service.extract_features()
        else:  # the vision code alone: features and colours, without category guesses
            from stylist.vision.colours import item_colours
            from stylist.vision.features import compute_features

            compute_features(service.library, service.extractor())
            for item in service.items():
                found = item_colours(service.library.file_path(item.working_file))
                service.library.set_colours(item.id, [c.hex for c in found])
        if not callable(getattr(service, "suggest", None)):
            return
        can_train = callable(getattr(service, "train", None))
        # Two rounds of thumbs, each followed by training (as the app does in the background),
        # so the model page has versions to compare.
        for round_ in range(2 if can_train else 1):
            shown = service.suggest(k=12, exploration=0.0)
            for n, outfit in enumerate(shown[:8]):
                verdict = Verdict.LIKE if (n + round_) % 3 != 2 else Verdict.DISLIKE
                service.rate(outfit.outfit(), verdict)
            if round_ == 0:
                for outfit in shown[:4]:
                    service.add_favourite(outfit.outfit())
            if can_train:
                service.train()


class Shooter:
    def __init__(self, out: Path) -> None:
        from PySide6.QtWidgets import QApplication

        self.app = QApplication.instance()
        self.out = out
        self.saved: list[Path] = []

    def pump(self, seconds: float, until=None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            if until is not None and until():
                break
            time.sleep(0.01)

    def settle(self, window) -> None:
        """Wait for background work and thumbnails, then let everything paint."""
        session = window.session
        self.pump(60, lambda: not session.tasks.active(include_quiet=True))
        self.pump(10, lambda: not window.thumbs._queue and not window.thumbs._in_flight)
        self.pump(0.4)

    def save(self, widget, name: str) -> None:
        self.pump(0.2)
        path = self.out / f"{name}.png"
        if not widget.grab().save(str(path)):
            raise SystemExit(f"screenshots: could not write {path}")
        self.saved.append(path)
        print(f"  {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")


def shoot(out: Path) -> list[Path]:
    from PySide6.QtCore import Qt

    from stylist import paths
    from stylist.gui import theme
    from stylist.gui.app import application, create_window

    app = application()
    theme.apply(app, "light")
    shooter = Shooter(out)
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as full:
        window = create_window(paths.for_home(empty))
        window.resize(*SIZE)
        window.show()
        shooter.settle(window)
        shooter.save(window, "welcome")
        window.close()

        print("  (building a library from the demo wardrobe …)")
        build_library(Path(full))
        window = create_window(paths.for_home(full))
        window.resize(*SIZE)
        window.show()
        window.show_page(0)
        shooter.settle(window)
        page = window.wardrobe
        page.select_item(page.model.item_at(0).id)
        shooter.settle(window)
        shooter.save(window, "wardrobe")
        # The detail pane's cut-out (over its checkerboard, with the brush), and the grid
        # showing every garment cut out.
        window.session.set_show_cutouts(True)
        window.cutouts_action.setChecked(True)
        cut = next((i for i in page.model.items() if i.uses_cutout), None)
        if cut is not None:
            page.select_item(cut.id)
        shooter.settle(window)
        shooter.save(window, "wardrobe-cutout")
        window.session.set_show_cutouts(False)
        window.cutouts_action.setChecked(False)

        window.show_page(1)
        shooter.pump(60, lambda: bool(window.suggestions.cards))
        shooter.settle(window)
        shooter.save(window, "suggestions")
        # A one-piece outfit's card (a dress and shoes), where the model suggests one.
        cards = window.suggestions.cards
        one_piece = next((c for c in cards if getattr(c.data, "one_piece", None)), None)
        if one_piece is not None:
            window.suggestions.set_current(cards.index(one_piece))
            shooter.settle(window)
            shooter.save(window, "suggestions-one-piece")

        window.suggestions.compose()
        dialog = window.suggestions._compose_dialog
        card = window.suggestions.cards[0].data if window.suggestions.cards else None
        if card is not None:
            dialog.pick(card.top, card.bottom, card.shoes, one_piece=card.one_piece)
        shooter.settle(window)
        shooter.save(dialog, "compose")
        dialog.close()

        window.show_page(2)
        window.favourites.view.setCurrentIndex(window.favourites.model.index(0))
        shooter.settle(window)
        shooter.save(window, "favourites")

        window.show_page(3)
        shooter.settle(window)
        shooter.save(window, "my-style")

        window.open_settings()
        shooter.pump(20, lambda: window.settings_dialog.device_text.text() != "Checking …")
        shooter.settle(window)
        shooter.save(window.settings_dialog, "settings")
        window.settings_dialog.reject()

        window.about()
        shooter.settle(window)
        shooter.save(window.about_dialog, "about")
        window.about_dialog.close()

        broken = Path(full) / "to-import"
        broken.mkdir()
        shutil.copyfile(DEMO / "tops" / "tshirt-01.jpg", broken / "tshirt-01.jpg")
        (broken / "IMG_2041.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut off during the copy")
        (broken / "receipt.png").write_text("not a photo")
        window.import_paths([broken])
        shooter.pump(30, lambda: getattr(window, "report_dialog", None) is not None)
        shooter.settle(window)
        shooter.save(window.report_dialog, "import-report")
        window.report_dialog.close()

        theme.apply(app, "dark")
        window.retheme()
        window.thumbs.forget()
        window.show_page(0)
        page.view.viewport().update()
        shooter.settle(window)
        shooter.save(window, "wardrobe-dark")
        window.show_page(1)
        window.suggestions.refresh()
        shooter.pump(60, lambda: bool(window.suggestions.cards))
        shooter.settle(window)
        shooter.save(window, "suggestions-dark")
        window.show_page(3)
        shooter.settle(window)
        shooter.save(window, "my-style-dark")
        shoot_sizes(shooter, app, window)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.close()
        theme.apply(app, "light")
    return shooter.saved


def shoot_sizes(shooter: Shooter, app, window) -> None:
    """``pages/<page>-<width>x<height>-<look>.png`` for every page, size and look."""
    from stylist.gui import theme

    folder = shooter.out / "pages"
    folder.mkdir(exist_ok=True)
    wardrobe = window.wardrobe
    for look in ("light", "dark"):
        theme.apply(app, look)
        window.retheme()
        window.thumbs.forget()
        for width, height in PAGE_SIZES:
            window.resize(width, height)
            for n, name in enumerate(PAGES):
                window.show_page(n)
                if name == "wardrobe":
                    wardrobe.select_item(wardrobe.model.item_at(0).id)
                if name == "suggestions":
                    shooter.pump(60, lambda: bool(window.suggestions.cards))
                shooter.settle(window)
                shooter.save(window, f"pages/{name}-{width}x{height}-{look}")
    window.resize(*SIZE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument(
        "--display", action="store_true", help="use the current DISPLAY instead of Xvfb"
    )
    args = parser.parse_args(argv)
    server = None if args.display else start_xvfb()
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ.pop("STYLIST_HOME", None)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        print(f"Screenshots in {args.out}:")
        saved = shoot(args.out)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    print(f"{len(saved)} screenshots.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
