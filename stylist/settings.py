"""The person's settings: a small JSON file in the config folder, written atomically."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from stylist.files import FileFormatError, read_json, write_json
from stylist.paths import Paths


@dataclass
class Settings:
    backbone: str = "efficientnet-lite0"  # the shipped compact backbone; "vgg16" once installed
    device: str = "auto"  # auto | cpu | cuda
    net: str = "C"  # the matching network used for ranking
    show_cutouts: bool = False  # the grid and the outfit cards show garments cut out (a view)
    theme: str = "system"  # the desktop app's look: system | light | dark

    @classmethod
    def load(cls, paths: Paths) -> Settings:
        try:
            data = read_json(paths.settings_file)
        except FileFormatError:
            return cls()  # missing, unreadable or not an object: the defaults, rewritten on save
        defaults = cls()
        kept = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            default = getattr(defaults, f.name)
            # a value of the wrong type (a hand-edited file) falls back to its default
            if default is None or isinstance(data[f.name], type(default)):
                kept[f.name] = data[f.name]
        return cls(**kept)

    def save(self, paths: Paths) -> None:
        write_json(paths.settings_file, asdict(self))
