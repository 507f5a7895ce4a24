"""A soak of one library shared by many processes under random SIGKILLs (``make soak``).

For a few minutes, several processes at once import photos, give verdicts and favourites, train,
suggest and export on one temporary home, and the driver kills running ones at random. Whatever a
process acknowledged before it died (a photo its import reported done, a verdict or favourite id
it printed) must still be in the library at the end, and the library must check out consistent.
Prints the counts; exits 1 on any loss. Not part of ``make test``: it runs for minutes.

    python -m tests.soak [--seconds 180] [--workers 4] [--seed 1] [--home DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "wardrobe-photos"

VERDICT = (
    "import sys\n"
    "from stylist.domain import Outfit, Verdict\n"
    "from stylist.service import Stylist\n"
    "with Stylist.open() as s:\n"
    "    vid = s.rate(Outfit(*map(int, sys.argv[1:4])), Verdict(sys.argv[4]), 'soak')\n"
    "    print('verdict', vid, flush=True)\n"
)


@dataclass
class Job:
    kind: str
    proc: subprocess.Popen
    photos: list[Path] = field(default_factory=list)
    out: Path | None = None


@dataclass
class Acknowledged:
    photos: set[str] = field(default_factory=set)  # sha256
    verdicts: set[int] = field(default_factory=set)
    favourites: set[int] = field(default_factory=set)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Soak:
    def __init__(self, home: Path, seed: int, workers: int) -> None:
        self.home = home
        self.rng = random.Random(seed)
        self.workers = workers
        self.env = {**os.environ, "STYLIST_HOME": str(home), "OMP_NUM_THREADS": "1"}
        self.logs = home.parent / "soak-logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        entries = json.loads((PHOTOS / "items.json").read_text())
        self.by_slot: dict[str, list[Path]] = {}
        for entry in entries:
            self.by_slot.setdefault(entry["slot"], []).append(PHOTOS / entry["file"])
        self.ack = Acknowledged()
        self.started: Counter[str] = Counter()
        self.finished: Counter[str] = Counter()
        self.killed: Counter[str] = Counter()
        self.jobs: list[Job] = []
        self.serial = 0

    # ----------------------------------------------------------------- starting work
    def _start(self, kind: str, argv: list[str], photos=()) -> None:
        self.serial += 1
        out = self.logs / f"{self.serial:05d}-{kind}.out"
        with open(out, "wb") as stdout, open(out.with_suffix(".err"), "wb") as stderr:
            proc = subprocess.Popen(argv, env=self.env, stdout=stdout, stderr=stderr)
        self.jobs.append(Job(kind, proc, list(photos), out))
        self.started[kind] += 1

    def _stylist(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "stylist", *args]

    def _ids(self) -> dict[str, list[int]]:
        from stylist import paths as paths_mod
        from stylist.library import Library

        with Library.open(paths_mod.for_home(self.home)) as lib:
            ids: dict[str, list[int]] = {}
            for item in lib.items():
                ids.setdefault(item.category.value, []).append(item.id)
        return ids

    def start_one(self) -> None:
        kind = self.rng.choices(
            ["import", "verdict", "favourite", "suggest", "export", "train"],
            weights=[4, 4, 2, 2, 1, 1],
        )[0]
        ids = self._ids()
        whole = all(ids.get(slot) for slot in ("top", "bottom", "shoes"))
        if kind != "import" and not whole:
            kind = "import"
        if kind == "import":
            slot = self.rng.choice(["top", "bottom", "shoes"])
            photos = self.rng.sample(self.by_slot[slot], 12)
            argv = self._stylist(
                "import", "--progress", "lines", "--category", slot, *map(str, photos)
            )
            self._start("import", argv, photos)
        elif kind in ("verdict", "favourite"):
            outfit = [str(self.rng.choice(ids[slot])) for slot in ("top", "bottom", "shoes")]
            if kind == "verdict":
                verdict = self.rng.choice(["like", "dislike"])
                self._start(kind, [sys.executable, "-c", VERDICT, *outfit, verdict])
            else:
                self._start(kind, self._stylist("favourite", "add", *outfit))
        elif kind == "suggest":
            self._start(kind, self._stylist("suggest", "-k", "5", "--json"))
        elif kind == "export":
            target = self.logs / f"export-{self.serial}.json"
            self._start(kind, self._stylist("export", "favourites", str(target)))
        else:
            self._start(kind, self._stylist("train", "--wait"))

    # ----------------------------------------------------------------- what was acknowledged
    def _settle(self, job: Job, killed: bool) -> None:
        text = job.out.read_text(errors="replace")
        errors = job.out.with_suffix(".err").read_text(errors="replace")
        if "Traceback" in errors:
            raise SystemExit(f"soak: a traceback in {job.out.with_suffix('.err')}:\n{errors}")
        if job.kind == "import":
            done = 0
            for line in errors.splitlines():
                words = line.split()
                if len(words) >= 2 and words[0] == "importing" and "/" in words[1]:
                    done = max(done, int(words[1].split("/")[0]))
            self.ack.photos.update(sha256(p) for p in job.photos[:done])
        elif job.kind == "verdict":
            for line in text.splitlines():
                if line.startswith("verdict "):
                    self.ack.verdicts.add(int(line.split()[1]))
        elif job.kind == "favourite":
            for line in text.splitlines():
                if line.startswith("Favourite "):
                    self.ack.favourites.add(int(line.split()[1]))
        if killed:
            self.killed[job.kind] += 1
        elif job.proc.returncode == 0:
            self.finished[job.kind] += 1

    def reap(self) -> None:
        for job in [j for j in self.jobs if j.proc.poll() is not None]:
            self.jobs.remove(job)
            self._settle(job, killed=job.proc.returncode == -signal.SIGKILL)

    def kill_one(self) -> None:
        if self.jobs:
            # a training takes far longer than the rest: killed as often, none would finish
            weights = [0.1 if j.kind == "train" else 1.0 for j in self.jobs]
            job = self.rng.choices(self.jobs, weights=weights)[0]
            if job.proc.poll() is None:
                job.proc.send_signal(signal.SIGKILL)
            job.proc.wait()

    # ----------------------------------------------------------------- the run
    def run(self, seconds: float) -> int:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.reap()
            while len(self.jobs) < self.workers:
                self.start_one()
            time.sleep(self.rng.uniform(0.05, 1.5))
            if self.rng.random() < 0.5:
                self.kill_one()
        for job in self.jobs:
            job.proc.send_signal(signal.SIGKILL)
            job.proc.wait()
        self.reap()
        return self.verify()

    def verify(self) -> int:
        from stylist import paths as paths_mod
        from stylist.library import Library

        with Library.open(paths_mod.for_home(self.home)) as lib:
            report = lib.check(deep=True)
            known = lib.known_hashes()
            verdicts = {v.id for v in lib.verdicts()}
            favourites = {f.id for f in lib.favourites()}
            versions = len(lib.model_versions())
        lost = {
            "photos": len(self.ack.photos - known),
            "verdicts": len(self.ack.verdicts - verdicts),
            "favourites": len(self.ack.favourites - favourites),
        }
        print(f"started:   {dict(self.started)}")
        print(f"finished:  {dict(self.finished)}")
        print(f"killed:    {dict(self.killed)}")
        print(
            f"acknowledged: {len(self.ack.photos)} photos, {len(self.ack.verdicts)} verdicts, "
            f"{len(self.ack.favourites)} favourites"
        )
        print(
            f"in the library: {len(known)} photos, {len(verdicts)} verdicts, "
            f"{len(favourites)} favourites"
        )
        print(f"lost: {lost}")
        # A training killed between saving its files and recording them leaves model files
        # without a version: check names them and a repair moves them aside; nothing is lost.
        unrecorded = [o for o in report.orphans if o.startswith("models/personal/")]
        sound = (
            report.database_ok
            and not report.missing_files
            and not report.damaged
            and not report.unregistered
            and len(unrecorded) == len(report.orphans)
        )
        print(f"model versions: {versions} (and {len(unrecorded)} unrecorded model files)")
        print(f"check (deep): {'consistent' if sound else 'NOT consistent'}")
        for message in report.missing_files + report.orphans + report.damaged:
            print(f"  {message}")
        return 0 if sound and not any(lost.values()) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--home", type=Path, help="default: a new temporary folder")
    args = parser.parse_args()
    base = args.home or Path(tempfile.mkdtemp(prefix="stylist-soak-"))
    home = base / "home"
    print(f"soak: {args.seconds:.0f} s, {args.workers} processes at once, home {home}")
    return Soak(home, args.seed, args.workers).run(args.seconds)


if __name__ == "__main__":
    sys.exit(main())
