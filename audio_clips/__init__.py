"""Recorded speech, wake-word and noise clips for the tests and benchmarks.

Not part of the installed distribution. Sources, licences and transcripts: MANIFEST.tsv;
licence texts: LICENSES/.
"""

from __future__ import annotations

from pathlib import Path

CLIPS = Path(__file__).resolve().parent
ENGLISH_COMMANDS = CLIPS / "english_commands"
WAKEWORD = CLIPS / "wakeword"  # NEG_* are negatives for "hey jarvis"
NOISE = CLIPS / "noise"  # no speech
FRENCH = CLIPS / "french"


def clip(relative: str) -> Path:
    """The clip at `relative`, e.g. "wakeword/pmw_hey_jarvis_1.wav"."""
    path = CLIPS / relative
    if not path.is_file():
        raise FileNotFoundError(f"No audio clip {relative!r} in {CLIPS}")
    return path
