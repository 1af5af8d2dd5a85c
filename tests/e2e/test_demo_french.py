"""`script/demo --language fr` as a user runs it (`python -m jarvis_demo`, what the script runs)."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

from tests.conftest import ROOT


def test_demo_in_french_turns_on_the_office_light_and_answers_in_french(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "jarvis_demo", "--language", "fr", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Loading speech models (faster-whisper base, Piper joe)" in result.stderr
    assert "'hey jarvis' + 'allume la lumière' (a person)" in result.stderr
    # No French Piper voice is installed here: the demo says which voice reads the reply.
    assert "Reply voice: en_US-joe-medium (en_US): no installed Piper voice speaks 'fr'" in (
        result.stderr
    )
    assert "Office light (light.office_light) off -> on" in result.stdout

    summary = json.loads((out / "summary.json").read_text())
    assert summary["transcript"].lower().strip(" .") == "allume la lumière"
    assert summary["reply"] == "Allumé"
    assert summary["state_changes"] == [
        {"entity_id": "light.office_light", "name": "Office light", "old": "off", "new": "on"}
    ]
