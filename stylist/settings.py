"""The person's settings: a small JSON file in the config folder, written atomically."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields

from stylist.paths import Paths


@dataclass
class Settings:
    backbone: str = "efficientnet-lite0"  # the shipped compact backbone; "vgg16" once installed
    device: str = "auto"  # auto | cpu | cuda
    net: str = "C"  # the matching network used for ranking
    show_cutouts: bool = False  # the grid and the outfit cards show garments cut out (a view)

    @classmethod
    def load(cls, paths: Paths) -> Settings:
        try:
            data = json.loads(paths.settings_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()  # missing or unreadable: the defaults, and the file is rewritten on save
        if not isinstance(data, dict):
            return cls()  # not the settings object (say, a list): the defaults, as above
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
        paths.config_dir.mkdir(parents=True, exist_ok=True)
        tmp = paths.settings_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, paths.settings_file)
