"""A clone of the repository is all the tests and benches need: no path outside it, and every
clip they read is in the repository with its source and licence."""

from __future__ import annotations

import csv
import re
import subprocess

from audio_clips import CLIPS
from tests.conftest import ROOT

_RELATIVE = re.compile(r"(?:\.\./)+[\w.-]+")
_CLIMBING = re.compile(r"""ROOT\.parent\b|\.parent\.parent\.parent\b|/ ?["']shared["']""")
_CODE = (
    "tests",
    "bench",
    "jarvis_demo",
    "script",
    "satellite",
    "wyoming_servers",
    "wyoming_wire",
    "custom_components",
    "audio_clips",
    ".ci",
)


def _tracked(*folders: str) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "--", *folders], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_no_code_reads_outside_the_clone() -> None:
    offenders = []
    for name in _tracked(*_CODE):
        path = ROOT / name
        if path.suffix not in (".py", ".sh", ".toml", "") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            outside = [
                rel
                for rel in _RELATIVE.findall(line)
                if not (path.parent / rel).resolve().is_relative_to(ROOT)
            ]
            if outside or _CLIMBING.search(line):
                offenders.append(f"{name}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_clip_is_tracked_listed_and_licensed() -> None:
    with (CLIPS / "MANIFEST.tsv").open(newline="") as manifest:
        rows = {row["file"]: row for row in csv.DictReader(manifest, delimiter="\t")}
    on_disk = {str(p.relative_to(CLIPS)) for p in CLIPS.rglob("*.wav")}
    assert on_disk == set(rows), "clips and MANIFEST.tsv rows differ"
    tracked = {name.removeprefix("audio_clips/") for name in _tracked("audio_clips")}
    assert on_disk <= tracked, f"untracked clips: {sorted(on_disk - tracked)}"
    licences = {p.stem for p in (CLIPS / "LICENSES").glob("*.txt")}
    for name, row in rows.items():
        assert row["license"].strip(), f"{name}: no licence"
        assert row["source_repo"].replace("/", "+") in licences, f"{name}: no licence text"


def test_benches_and_the_demo_do_not_import_the_tests() -> None:
    """The benches and the demo use the project's packages and their own helpers only."""
    importing = re.compile(r"^\s*(?:from|import)\s+tests\b")
    offenders = [
        f"{name}:{n}: {line.strip()}"
        for name in _tracked("bench", "jarvis_demo")
        if name.endswith(".py")
        for n, line in enumerate((ROOT / name).read_text().splitlines(), 1)
        if importing.match(line)
    ]
    assert not offenders, "\n".join(offenders)
