"""What happened during one voice request: stages on one clock, state changes, the reply."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import json
from pathlib import Path
from typing import Any

# Stages in the order a request goes through them, with the label shown to the user.
STAGES = (
    ("wake", "wake word detected"),
    ("end_of_speech", "end of speech"),
    ("transcript", "transcript ready"),
    ("intent", "intent handled"),
    ("first_tts_audio", "first reply audio"),
    ("last_tts_audio", "last reply audio"),
)


@dataclass(frozen=True)
class StateChange:
    """An entity that changed state during the request."""

    entity_id: str
    name: str
    old: str
    new: str


@dataclass
class RequestReport:
    """Everything the demo shows and writes about one request."""

    transcript: str | None = None
    reply: str | None = None
    changes: list[StateChange] = field(default_factory=list)
    stage_times: dict[str, float] = field(default_factory=dict)  # seconds since audio start
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary.json document."""
        return {
            "transcript": self.transcript,
            "reply": self.reply,
            "state_changes": [change.__dict__ for change in self.changes],
            "stage_times_s": {
                key: round(self.stage_times[key], 3) for key, _ in STAGES if key in self.stage_times
            },
            "error": self.error,
        }

    def write(self, out_dir: Path) -> None:
        """Write summary.json into `out_dir`."""
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "summary.json").write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def lines(self) -> list[str]:
        """Human-readable lines for the terminal."""
        out = [
            f"  transcript : {self.transcript!r}",
            f"  reply      : {self.reply!r}",
        ]
        out.extend(
            f"  changed    : {c.name} ({c.entity_id}) {c.old} -> {c.new}" for c in self.changes
        )
        if not self.changes:
            out.append("  changed    : nothing")
        if self.error:
            out.append(f"  error      : {self.error}")
        out.append("  stage times (seconds since the recording started):")
        for key, label in STAGES:
            value = self.stage_times.get(key)
            out.append(f"    {label:<20} {'-' if value is None else f'{value:7.3f}'}")
        return out


def pipeline_stage_times(
    events: Iterable[Mapping[str, Any]], audio_start: datetime
) -> dict[str, float]:
    """Stage times from HA's pipeline debug events (`type`, ISO `timestamp`, `data`)."""
    first: dict[str, datetime] = {}
    for event in events:
        first.setdefault(str(event["type"]), datetime.fromisoformat(str(event["timestamp"])))
    mapping = {
        "wake": "run-start",
        "end_of_speech": "stt-vad-end",
        "transcript": "stt-end",
        "intent": "intent-end",
    }
    return {
        stage: (first[kind] - audio_start).total_seconds()
        for stage, kind in mapping.items()
        if kind in first
    }


def pipeline_texts(events: Iterable[Mapping[str, Any]]) -> tuple[str | None, str | None]:
    """The transcript and the reply text from HA's pipeline debug events."""
    transcript = reply = None
    for event in events:
        data = event.get("data") or {}
        if event["type"] == "stt-end":
            transcript = data.get("stt_output", {}).get("text")
        elif event["type"] == "intent-end":
            speech = data.get("intent_output", {}).get("response", {}).get("speech", {})
            reply = speech.get("plain", {}).get("speech")
    return transcript, reply
