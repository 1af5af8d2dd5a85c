"""Every event a peer sends the satellite, checked whole before anything acts on it.

`parse()` turns a Wyoming event into a value whose every field has the right type, range and
length (the wyoming library's dataclass, or `Control` for the local control event), or raises
`RequestError` (code `bad-request`): the peer gets an `error` and nothing changes, not even who
drives. The `jarvis-*` events (control, wake decision, media) are this project's own (README,
"Jarvis satellite protocol"). Unknown fields are ignored (newer Home Assistant versions may add some); the control
event is ours, so an unknown key there is refused (a typo). `kind_of()` sorts event types for
access control: open to all (discovery), pairing, control, or driving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
import enum
import math
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, Eventable
from wyoming.info import Describe
from wyoming.ping import Ping
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detect, Detection

from satellite.pairing import PAIR_TYPES, REQUEST_TYPE, RESPONSE_TYPE, PairRequest, PairResponse
from wyoming_wire import RequestError

CONTROL_TYPE = "jarvis-satellite-control"
STATE_TYPE = "jarvis-satellite-state"
CLAIM_TYPE = "jarvis-wake-claim"  # satellite -> arbitrating driver
DECISION_TYPE = "jarvis-wake-decision"
MEDIA_START_TYPE = "jarvis-media-start"
MEDIA_CHUNK_TYPE = "jarvis-media-chunk"
MEDIA_STOP_TYPE = "jarvis-media-stop"
MEDIA_CONTROL_TYPE = "jarvis-media-control"
SENSITIVITIES = ("low", "default", "high")
MEDIA_ACTIONS = ("pause", "resume", "stop")
MAX_CLAIM_ID = 64

MAX_ID = 100  # timer ids (HA: 26-character ULIDs)
MAX_NAME = 200  # timer, wake word, voice and language names
MAX_TEXT = 10_000  # transcripts, replies, announcements, error messages
MAX_TIMER_S = 31 * 24 * 3600
MAX_RATE, MAX_WIDTH, MAX_CHANNELS = 1_000_000, 8, 64  # sanity; playability is checked later
MAX_TIMESTAMP = 10**12  # ms
MAX_NAMES = 32


class Kind(enum.Enum):
    """What an event type asks of the satellite, for access control."""

    OPEN = "open"  # discovery and keep-alive: anyone
    PAIRING = "pairing"  # the pairing exchange: anyone
    CONTROL = "control"  # mute, volume, status: trusted peers
    DRIVE = "drive"  # everything else: trusted peers, and it makes the sender the driver


_OPEN_TYPES = frozenset({"describe", "ping", "pong", "info"})


def kind_of(event_type: str) -> Kind:
    """How access control treats an event type."""
    if event_type in _OPEN_TYPES:
        return Kind.OPEN
    if event_type in PAIR_TYPES:
        return Kind.PAIRING
    if event_type in (CONTROL_TYPE, DECISION_TYPE):
        return Kind.CONTROL
    return Kind.DRIVE


@dataclass(frozen=True)
class Control:
    """The control event: what to change (None or False = leave as it is).

    Mute, volume, wake word and its sensitivity, follow-ups, the stop word, stop what plays,
    stop the alarm, forget the driver, state pushes, wake arbitration.
    """

    muted: bool | None = None
    volume: float | None = None
    stop_alarm: bool = False
    forget_driver: bool = False
    wake_word: str | None = None
    wake_sensitivity: str | None = None
    follow_up: bool | None = None
    stop_word: bool | None = None
    stop: bool = False
    subscribe: bool | None = None
    arbitration: bool | None = None


@dataclass(frozen=True)
class WakeDecision:
    """The arbitrating driver's answer to a wake claim: run the pipeline, or drop it."""

    id: str
    run: bool


@dataclass(frozen=True)
class MediaStart:
    """A new media stream (music) in this PCM format."""

    rate: int
    width: int
    channels: int


@dataclass(frozen=True)
class MediaChunk:
    """Media PCM."""

    rate: int
    width: int
    channels: int
    audio: bytes


@dataclass(frozen=True)
class MediaStop:
    """End of the media stream: play out what is buffered."""


@dataclass(frozen=True)
class MediaControl:
    """Pause, resume or stop (flush) the media."""

    action: str


Value = Eventable | Control | WakeDecision | MediaStart | MediaChunk | MediaStop | MediaControl
"""What `parse()` returns for a known event."""


class _Bad(Exception):
    """A field failed its check (turned into a RequestError naming the event)."""


Check = Callable[[Any], Any]


def _int(lo: int, hi: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _Bad(f"must be an integer from {lo} to {hi}, got {value!r:.40}")
        return value

    return check


def _number(lo: float, hi: float) -> Check:
    def check(value: Any) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not lo <= value <= hi:
            raise _Bad(f"must be a number from {lo:g} to {hi:g}, got {value!r:.40}")
        return float(value)

    return check


def _str(max_len: int, min_len: int = 0) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str) or not min_len <= len(value) <= max_len:
            raise _Bad(f"must be a string of {min_len} to {max_len} characters, got {value!r:.40}")
        return value

    return check


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, got {value!r:.40}")
    return value


def _stage(value: Any) -> PipelineStage:
    try:
        return PipelineStage(value)
    except (ValueError, TypeError):
        stages = ", ".join(s.value for s in PipelineStage)
        raise _Bad(f"must be one of {stages}, got {value!r:.40}") from None


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise _Bad(f"must be a list of at most {MAX_NAMES} names")
    return [_str(MAX_NAME)(item) for item in value]


def _voice(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("must be an object")
    for key in ("name", "language", "speaker"):
        if value.get(key) is not None:
            _str(MAX_NAME)(value[key])
    return value


_ID = _str(MAX_ID, 1)
_NAME = _str(MAX_NAME)
_TEXT = _str(MAX_TEXT)
_SECONDS = _int(0, MAX_TIMER_S)
_TIMESTAMP = _number(0, MAX_TIMESTAMP)


def _fields(
    data: Mapping[str, Any], required: dict[str, Check], optional: dict[str, Check]
) -> dict[str, Any]:
    """Check `data`'s fields; the checked values by name (None when an optional one is absent)."""
    out: dict[str, Any] = {}
    for key, check in required.items():
        if key not in data or data[key] is None:
            raise _Bad(f"{key} is required")
        out[key] = _field(key, check, data[key])
    for key, check in optional.items():
        value = data.get(key)
        out[key] = None if value is None else _field(key, check, value)
    return out


def _field(key: str, check: Check, value: Any) -> Any:
    try:
        return check(value)
    except _Bad as err:
        raise _Bad(f"{key} {err}") from None


def _audio_format(data: Mapping[str, Any]) -> dict[str, Any]:
    return _fields(
        data,
        {"rate": _int(1, MAX_RATE), "width": _int(1, MAX_WIDTH), "channels": _int(1, MAX_CHANNELS)},
        {"timestamp": _TIMESTAMP},
    )


def _ms(value: float | None) -> int | None:
    return None if value is None else int(value)


def _audio_start(event: Event) -> AudioStart:
    f = _audio_format(event.data)
    return AudioStart(f["rate"], f["width"], f["channels"], timestamp=_ms(f["timestamp"]))


def _audio_chunk(event: Event) -> AudioChunk:
    f = _audio_format(event.data)
    audio = event.payload or b""
    if len(audio) % (f["width"] * f["channels"]):
        raise _Bad(f"payload of {len(audio)} bytes is not whole {f['width']}-byte samples")
    return AudioChunk(f["rate"], f["width"], f["channels"], audio, timestamp=_ms(f["timestamp"]))


def _run_pipeline(event: Event) -> RunPipeline:
    f = _fields(
        event.data,
        {"start_stage": _stage, "end_stage": _stage},
        {
            "wake_word_name": _NAME,
            "restart_on_end": _bool,
            "wake_word_names": _names,
            "announce_text": _TEXT,
        },
    )
    try:
        return RunPipeline(
            start_stage=f["start_stage"],
            end_stage=f["end_stage"],
            wake_word_name=f["wake_word_name"],
            restart_on_end=bool(f["restart_on_end"]),
            wake_word_names=f["wake_word_names"],
            announce_text=f["announce_text"],
        )
    except ValueError as err:  # end stage before the start stage
        raise _Bad(str(err)) from None


def _timer_started(event: Event) -> TimerStarted:
    f = _fields(
        event.data,
        {"id": _ID, "total_seconds": _SECONDS},
        {
            "name": _NAME,
            "start_hours": _SECONDS,
            "start_minutes": _SECONDS,
            "start_seconds": _SECONDS,
        },
    )
    return TimerStarted(**f)


def _timer_updated(event: Event) -> TimerUpdated:
    f = _fields(event.data, {"id": _ID, "is_active": _bool, "total_seconds": _SECONDS}, {})
    return TimerUpdated(**f)


def _one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise _Bad(f"must be one of {', '.join(choices)}, got {value!r:.40}")
        return str(value)

    return check


_CONTROL_FIELDS: dict[str, Check] = {
    "muted": _bool,
    "volume": _number(0.0, 1.0),
    "stop_alarm": _bool,
    "forget_driver": _bool,
    "wake_word": _str(MAX_NAME, 1),
    "wake_sensitivity": _one_of(SENSITIVITIES),
    "follow_up": _bool,
    "stop_word": _bool,
    "stop": _bool,
    "subscribe": _bool,
    "arbitration": _bool,
}


def _control(event: Event) -> Control:
    if unknown := sorted(set(event.data) - set(_CONTROL_FIELDS)):
        known = ", ".join(sorted(_CONTROL_FIELDS))
        raise _Bad(f"unknown field {unknown[0]!r} (known: {known})")
    f = _fields(event.data, {}, _CONTROL_FIELDS)
    for flag in ("stop_alarm", "forget_driver", "stop"):
        f[flag] = bool(f[flag])
    return Control(**f)


def _decision(event: Event) -> WakeDecision:
    f = _fields(event.data, {"id": _str(MAX_CLAIM_ID, 1), "run": _bool}, {})
    return WakeDecision(f["id"], f["run"])


def _media_start(event: Event) -> MediaStart:
    f = _audio_format(event.data)
    return MediaStart(f["rate"], f["width"], f["channels"])


def _media_chunk(event: Event) -> MediaChunk:
    chunk = _audio_chunk(event)
    return MediaChunk(chunk.rate, chunk.width, chunk.channels, chunk.audio)


def _media_control(event: Event) -> MediaControl:
    return MediaControl(_fields(event.data, {"action": _one_of(MEDIA_ACTIONS)}, {})["action"])


def _error(event: Event) -> Error:
    f = _fields(event.data, {"text": _TEXT}, {"code": _NAME})
    return Error(text=f["text"], code=f["code"])


def _synthesize(event: Event) -> Synthesize:
    return Synthesize(text=_fields(event.data, {"text": _TEXT}, {"voice": _voice})["text"])


def _pairing(from_event: Callable[[Event], Eventable]) -> Callable[[Event], Eventable]:
    def parse(event: Event) -> Eventable:
        try:
            return from_event(event)
        except ValueError as err:
            raise _Bad(str(err)) from None

    return parse


def _only(key: str, check: Check) -> Callable[[Mapping[str, Any]], Any]:
    return lambda data: _fields(data, {}, {key: check})[key]


_TIMESTAMP_OF = _only("timestamp", _TIMESTAMP)

_PARSERS: dict[str, Callable[[Event], Value]] = {
    "describe": lambda e: Describe(),
    "ping": lambda e: Ping(text=_only("text", _str(1000))(e.data)),
    "run-satellite": lambda e: RunSatellite(),
    "pause-satellite": lambda e: PauseSatellite(),
    "detect": lambda e: Detect(names=_only("names", _names)(e.data)),
    "detection": lambda e: Detection(
        name=_only("name", _NAME)(e.data), timestamp=_ms(_TIMESTAMP_OF(e.data))
    ),
    "voice-started": lambda e: VoiceStarted(timestamp=_ms(_TIMESTAMP_OF(e.data))),
    "voice-stopped": lambda e: VoiceStopped(timestamp=_ms(_TIMESTAMP_OF(e.data))),
    "transcribe": lambda e: Transcribe(
        name=_only("name", _NAME)(e.data), language=_only("language", _NAME)(e.data)
    ),
    "transcript": lambda e: Transcript(text=_fields(e.data, {"text": _TEXT}, {})["text"]),
    "synthesize": _synthesize,
    "audio-start": _audio_start,
    "audio-chunk": _audio_chunk,
    "audio-stop": lambda e: AudioStop(timestamp=_ms(_TIMESTAMP_OF(e.data))),
    "error": _error,
    "run-pipeline": _run_pipeline,
    "timer-started": _timer_started,
    "timer-updated": _timer_updated,
    "timer-cancelled": lambda e: TimerCancelled(id=_fields(e.data, {"id": _ID}, {})["id"]),
    "timer-finished": lambda e: TimerFinished(id=_fields(e.data, {"id": _ID}, {})["id"]),
    CONTROL_TYPE: _control,
    DECISION_TYPE: _decision,
    MEDIA_START_TYPE: _media_start,
    MEDIA_CHUNK_TYPE: _media_chunk,
    MEDIA_STOP_TYPE: lambda e: MediaStop(),
    MEDIA_CONTROL_TYPE: _media_control,
    REQUEST_TYPE: _pairing(PairRequest.from_event),
    RESPONSE_TYPE: _pairing(PairResponse.from_event),
}


def parse(event: Event) -> Value | None:
    """The checked value of an event; None for a type the satellite ignores (pong, info, …).

    Raises RequestError (code `bad-request`) naming the event type and the bad field.
    """
    parser = _PARSERS.get(event.type)
    if parser is None:
        return None
    try:
        return parser(event)
    except _Bad as err:
        raise RequestError(f"{event.type}: {err}", "bad-request") from None
