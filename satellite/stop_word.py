"""The stop word: "stop" said while the satellite plays something ends it, without a wake word.

No bundled wake word model says "stop" (pymicro-wakeword / pyopen-wakeword ship none), so the
satellite uses what it already has: while a reply, an announcement, media or the timer alarm
plays, `Segmenter` runs an energy detector on the listener's cleaned audio (`EnergyGate`: a level
well above the tracked floor of what remains after echo cancellation; pymicro-vad was measured to
miss a lone "stop", scoring it 0.03-0.25) and cuts out isolated short utterances (`MIN_S`-`MAX_S`
of speech with `GAP_S` of silence before and after). The gate also knows what the speaker plays
(the echo canceller's reference, `EchoEstimate`): a chunk is speech only if a good share of it
stands out of the echo expected from the reference band by band, so the residual of the
satellite's own voice neither merges with the user's word nor keeps it from being isolated; the
chunks it calls echo are sent 20 dB down. Each utterance goes to a Wyoming speech-to-text server
(`[stop_word] stt_uri`, e.g. the Jarvis whisper server); a transcript that is, once normalised
(case, punctuation, accents), one of the stop words (`[stop_word] words`, defaults per language:
en "stop", fr "stop", "arrête", "arrêtez") stops everything, like the control event's `stop`.
When the first decode heard other words, a second one biased toward the stop words decides
(`heard`).

Never in the way: one check at a time (a newer utterance replaces one still waiting, the older is
dropped), connect and decode timeouts, the first failure of a series logged as a warning and the
rest at debug level until the server answers again. With the stop word off, no `stt_uri`, the
microphone muted or nothing playing, nothing is cut and nothing is sent.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
import contextlib
from dataclasses import dataclass
import logging
import math
import time
from typing import Any
import unicodedata

import numpy as np
import numpy.typing as npt
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import async_write_event

from satellite.audio.reference import MicCursor, ReferenceTimeline
from satellite.config import StopWordSettings
from satellite.service_client import service_call
from wyoming_wire import Limits, read_event

_LOGGER = logging.getLogger(__name__)

RATE = 16000
CHUNK_S = 0.01
MIN_S = 0.15  # shortest speech checked (VAD blips are shorter)
MAX_S = 1.2  # longest: "stop" or "stop it", never a sentence
GAP_S = 0.3  # silence before and after (pauses between words of a sentence are shorter)
PAD_S = 0.2  # audio kept before the speech (the VAD starts a little late)
ABOVE_FLOOR_DB = 10.0  # a chunk this far above the floor is speech
MIN_LEVEL_DBFS = -62.0  # never speech below this (digital silence, a quiet room)
FLOOR_S = 1.5  # the floor: a low percentile of the levels of the last 1.5 s
FLOOR_PERCENTILE = 30.0
WARMUP_S = 1.0  # past audio that sets the floor when playback starts
# The echo estimate (what the speaker played -> the residual expected after echo cancellation).
REF_HOLD_S = 0.1  # the reference's power is held this long: speaker latency + the room's tail
COUPLING_S = 6.0  # the coupling (residual vs reference level) is taken from the last 6 s...
COUPLING_LAG_S = 1.5  # ...but not the last 1.5 s (a word being said is not part of it)
COUPLING_PERCENTILE = 90.0
COUPLING_MIN_S = 0.5  # of playing audio before the estimate is used
BANDS = 32  # log-spaced from 100 Hz (24 once bins are not split: 100 Hz bins)
BAND_FLOOR_DBFS = -90.0  # the reference's power per band is taken as at least this
ECHO_MARGIN_DB = 3.0  # a band's power this far above its expected echo is not echo
NOT_ECHO_SHARE_DB = -12.0  # speech: what is not echo is at least this share of the chunk
SEND_ECHO_GAIN = 0.1  # chunks mostly echo are sent to the STT server at this gain (-20 dB)
SPEAKER_MIN_DBFS = -60.0  # the speaker is silent below this
RESYNC_S = 0.15  # the microphone drifted this far from the timeline's clock: anchor again
CONNECT_TIMEOUT_S = 2.0
DECODE_TIMEOUT_S = 5.0  # from the audio sent to the transcript
SEND_CHUNK_BYTES = 3200  # 100 ms per audio-chunk
# Silence added on both sides of what is sent: whisper tiny.en, given a lone word with 0.2 s
# around it, was measured to repeat it or mishear it ("start, start, start"); with 0.3 s, not
# (bench.stop_word: as many detected as with 0.5 s, 0 false stops, a shorter decode).
SEND_PAD = bytes(2 * round(0.3 * RATE))
LIMITS = Limits(max_payload_bytes=64 * 1024, max_data_bytes=64 * 1024, body_timeout_s=5.0)

DEFAULT_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("stop",),
    "fr": ("stop", "arrête", "arrêtez"),
}


def normalise(text: str) -> str:
    """Lower case, no accents, punctuation as spaces, single spaces: "Arrête !" -> "arrete"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    cleaned = "".join(c if c.isalnum() or c == "'" else " " for c in letters)
    return " ".join(cleaned.replace("'", " ").split())


def stop_words(settings: StopWordSettings) -> frozenset[str]:
    """The normalised stop words of the settings (the language's defaults when none given)."""
    words = settings.words or DEFAULT_WORDS.get(settings.language.split("-")[0].split("_")[0], ())
    return frozenset(w for w in (normalise(word) for word in words or ("stop",)) if w)


def stop_hints(settings: StopWordSettings) -> list[str]:
    """The stop words as written, capitalised (the STT server's biasing terms)."""
    language = settings.language.split("-")[0].split("_")[0]
    words = settings.words or DEFAULT_WORDS.get(language, ()) or ("stop",)
    return [word.strip().capitalize() for word in words if word.strip()]


async def heard(
    uri: str, pcm: bytes, language: str, words: frozenset[str], hints: list[str]
) -> str:
    """The transcript that decides whether `pcm` (padded as sent) holds a stop word.

    A plain decode first; when it heard words but no stop word, a second one biased toward the
    stop words (`hints` as `transcript_terms`: whisper's prompt), which turns many "Scott." or
    "What's up?" of a "stop" blurred by the residual echo back into "Stop.". An empty plain
    transcript is final: biased, whisper was measured to hear "Stop." in residual echo alone.
    """
    text = await transcribe(uri, pcm, language)
    plain = normalise(text)
    if not plain or plain in words or not hints:
        return text
    return await transcribe(uri, pcm, language, hints)


class StopWordError(Exception):
    """A check that could not be made; the message says why."""


async def transcribe(uri: str, pcm: bytes, language: str, terms: list[str] | None = None) -> str:
    """The transcript of 16 kHz 16-bit mono `pcm` from the Wyoming STT server at `uri`.

    `terms`: words to bias the decode toward (`transcript_terms`; whisper: its prompt).
    """
    async with service_call(
        uri, "STT server", StopWordError,
        connect_s=CONNECT_TIMEOUT_S, answer_s=DECODE_TIMEOUT_S, no_answer="gave no transcript",
    ) as (reader, writer):  # fmt: skip
        request = Transcribe(language=language or None, transcript_terms=terms or None)
        await async_write_event(request.event(), writer)
        await async_write_event(AudioStart(rate=RATE, width=2, channels=1).event(), writer)
        for at in range(0, len(pcm), SEND_CHUNK_BYTES):
            chunk = AudioChunk(
                rate=RATE, width=2, channels=1, audio=pcm[at : at + SEND_CHUNK_BYTES]
            )
            await async_write_event(chunk.event(), writer)
        await async_write_event(AudioStop().event(), writer)
        return await _read_transcript(reader)


async def _read_transcript(reader: asyncio.StreamReader) -> str:
    while True:
        event = await read_event(reader, LIMITS)
        if event is None:
            raise StopWordError("the STT server closed the connection before the transcript")
        if Error.is_type(event.type):
            error = Error.from_event(event)
            raise StopWordError(f"the STT server refused: {error.text} ({error.code})")
        if Transcript.is_type(event.type):
            return str(Transcript.from_event(event).text or "")


def level_dbfs(samples: npt.NDArray[Any]) -> float:
    """Mean power of int16-scaled samples, in dBFS."""
    power = float(np.mean(np.square(samples, dtype=np.float32))) if len(samples) else 0.0
    return 10 * math.log10(power / 32768.0**2 + 1e-12)


def band_edges(bands: int, size: int) -> list[int]:
    """Bin edges of `bands` log-spaced bands over an rfft of `size` samples (DC left out)."""
    top = size // 2 + 1
    edges = np.unique(np.round(np.geomspace(1, top, bands + 1)).astype(int))
    return [int(e) for e in edges]


class EchoEstimate:
    """What in a cleaned chunk is not the speaker's echo, from what the speaker played.

    What remains of the echo after the canceller follows what the speaker plays, band by band:
    its expected power in a band is the reference's power there (held over `REF_HOLD_S`: the
    speaker's latency and the room's tail) times a coupling, a high percentile of the cleaned /
    reference power ratios of the last seconds while the speaker played (lagged, so that a word
    being said does not raise it). `not_echo(samples)` is the level of what stands
    `ECHO_MARGIN_DB` above that expected echo: the user, who is not in the reference, even
    while the reply goes on. The timeline is read at the microphone's sample index (anchored
    on the first chunk, as the echo canceller does).
    """

    def __init__(self, timeline: ReferenceTimeline, bands: int | None = None) -> None:
        """No estimate until the speaker has played `COUPLING_MIN_S`."""
        self.timeline = timeline
        self._size = round(CHUNK_S * RATE)
        self._edges = band_edges(round(BANDS if bands is None else bands), self._size)
        count = len(self._edges) - 1
        self._cursor = MicCursor(timeline, self._size, RESYNC_S)
        # Rings (numpy arrays, written in turn): held reference, lagged ratios, ratios.
        self._held = np.zeros((round(REF_HOLD_S / CHUNK_S), count))
        self._lag = np.zeros((round(COUPLING_LAG_S / CHUNK_S), count))
        self._lag_valid = np.zeros(len(self._lag), dtype=bool)
        self._ratios = np.zeros((round(COUPLING_S / CHUNK_S), count))
        self._ratio_count = 0  # ratios written so far
        self.coupling: npt.NDArray[np.float64] | None = None  # per band, as a power ratio
        self._band_floor = np.full(count, 32768.0**2 * 10 ** (BAND_FLOOR_DBFS / 10))
        self._margin = 10 ** (ECHO_MARGIN_DB / 10)

    def _bands(self, samples: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        """Mean power per band (their sum is the chunk's mean power, DC aside)."""
        spectrum = np.abs(np.fft.rfft(np.asarray(samples, dtype=np.float64), self._size)) ** 2
        spectrum *= 2.0 / self._size**2
        return np.add.reduceat(spectrum, self._edges[:-1])[: len(self._edges) - 1]

    def not_echo(self, samples: npt.NDArray[Any]) -> float | None:
        """The level (dBFS) of what this chunk holds beyond the echo expected; None: unknown."""
        if self.timeline.last_write_index < 0:
            return None  # the speaker never played
        speaker = self._bands(self.timeline.read(self._cursor.next_index(), self._size))
        self._held[self._cursor.count % len(self._held)] = speaker
        held = np.maximum(np.max(self._held, axis=0), self._band_floor)
        playing = float(np.sum(held)) > 32768.0**2 * 10 ** (SPEAKER_MIN_DBFS / 10)
        clean = self._bands(samples)
        at = self._cursor.count % len(self._lag)  # the oldest lagged ratio, replaced below
        if self._cursor.count >= len(self._lag) and self._lag_valid[at]:
            self._ratios[self._ratio_count % len(self._ratios)] = self._lag[at]
            self._ratio_count += 1
            filled = min(self._ratio_count, len(self._ratios))
            if filled >= COUPLING_MIN_S / CHUNK_S and (
                self.coupling is None or self._ratio_count % 10 == 0
            ):
                self.coupling = np.percentile(self._ratios[:filled], COUPLING_PERCENTILE, axis=0)
        self._lag_valid[at] = playing
        if playing:
            self._lag[at] = clean / held
        if self.coupling is None or not playing:
            return None
        beyond = float(np.sum(np.maximum(0.0, clean - self._margin * self.coupling * held)))
        return 10 * math.log10(beyond / 32768.0**2 + 1e-12)


class EnergyGate:
    """Speech = a 10 ms chunk well above the floor: a low percentile of the last `FLOOR_S`.

    The floor is what the room and the echo canceller's residual leave between the user's
    words; as it follows the residual of music or of the satellite's own voice within a second
    or so, only what stands out of it (the user, closer than the speaker's echo) is speech.
    """

    def __init__(self, above_db: float = ABOVE_FLOOR_DB, min_dbfs: float = MIN_LEVEL_DBFS) -> None:
        """The floor starts unknown (set by the first chunks)."""
        self.above_db = above_db
        self.not_echo_share_db = NOT_ECHO_SHARE_DB
        self.min_dbfs = min_dbfs
        self._levels: deque[float] = deque(maxlen=round(FLOOR_S / CHUNK_S))
        self._count = 0
        self.floor: float | None = None

    def reset(self) -> None:
        """Forget the floor."""
        self._levels.clear()
        self._count = 0
        self.floor = None

    def speech(self, chunk: bytes, not_echo_dbfs: float | None = None) -> bool:
        """Whether this chunk is speech (the floor is updated every 10 chunks).

        `not_echo_dbfs`: the level of what in it is not the speaker's echo (`EchoEstimate`);
        speech is mostly that.
        """
        level = level_dbfs(np.frombuffer(chunk, dtype="<i2"))
        return self.speech_level(level, not_echo_dbfs)

    def speech_level(self, level: float, not_echo_dbfs: float | None = None) -> bool:
        """`speech` for a chunk of this level (dBFS)."""
        levels = self._levels
        self._count += 1
        if self.floor is None or self._count % 10 == 0:
            self.floor = float(np.percentile(levels, FLOOR_PERCENTILE)) if levels else level
        levels.append(level)
        if not_echo_dbfs is not None and not_echo_dbfs < level + self.not_echo_share_db:
            return False
        return level > self.floor + self.above_db and level > self.min_dbfs


class Segmenter:
    """Cuts isolated short utterances out of the listener's cleaned audio while `active`.

    `feed(chunk, t)` runs on the listener's thread for each 10 ms 16 kHz chunk; it only keeps
    the last second while inactive. `on_utterance(pcm, t)` gets each utterance (with `PAD_S`
    before and the `GAP_S` of silence after) on that thread; it must not block.
    """

    def __init__(
        self,
        on_utterance: Callable[[bytes, float], None],
        *,
        min_s: float = MIN_S,
        max_s: float = MAX_S,
        gap_s: float = GAP_S,
        gate: EnergyGate | None = None,
        reference: ReferenceTimeline | None = None,
    ) -> None:
        """Nothing runs until `active` is set."""
        self._on_utterance = on_utterance
        self._min = round(min_s / CHUNK_S)
        self._max = round(max_s / CHUNK_S)
        self._gap = round(gap_s / CHUNK_S)
        self._gate = gate or EnergyGate()
        self.reference = reference
        """What the speaker plays (the echo canceller's reference): speech must stand out of
        its expected echo (`EchoEstimate`); None: the energy gate alone."""
        self._echo: EchoEstimate | None = None
        self.active = False
        """Set from any thread: something plays and the stop word is on."""
        self._running = False
        self._recent: deque[tuple[bytes, float, float | None]] = deque(
            maxlen=round(WARMUP_S / CHUNK_S)
        )
        self._pre: deque[bytes] = deque(maxlen=round(PAD_S / CHUNK_S))
        self._utterance: list[bytes] | None = None
        self._first = self._last = 0  # speech chunks' indexes in the utterance
        self._skipping = False  # speech too long, or not isolated: wait for its end
        self._quiet = 0  # chunks of silence in a row
        self.utterances = 0
        self.vad_ns = 0

    def feed(self, chunk: bytes, t: float) -> None:
        """One cleaned 10 ms chunk (listener thread)."""
        t0 = time.perf_counter_ns()
        samples = np.frombuffer(chunk, dtype="<i2")
        level = level_dbfs(samples)
        echo = self._not_echo(samples)
        if not self.active:
            if self._running:
                self._running = False
                self._utterance = None
            self._recent.append((chunk, level, echo))
            self.vad_ns += time.perf_counter_ns() - t0
            return
        if not self._running:
            self._begin()
        speech = self._gate.speech_level(level, echo)
        self._recent.append((chunk, level, echo))
        self._step(self._to_send(chunk, level, echo), speech, t)
        self.vad_ns += time.perf_counter_ns() - t0

    def _not_echo(self, samples: npt.NDArray[Any]) -> float | None:
        reference = self.reference
        if reference is None:
            return None
        if self._echo is None or self._echo.timeline is not reference:
            self._echo = EchoEstimate(reference)
        return self._echo.not_echo(samples)

    def _to_send(self, chunk: bytes, level: float, not_echo: float | None) -> bytes:
        """The chunk as sent to the STT server: attenuated where it is mostly echo."""
        if SEND_ECHO_GAIN >= 1.0 or not_echo is None or not_echo >= level + NOT_ECHO_SHARE_DB:
            return chunk
        samples = np.frombuffer(chunk, dtype="<i2").astype(np.float32) * SEND_ECHO_GAIN
        return samples.astype("<i2").tobytes()

    def _begin(self) -> None:
        """Playback started: the floor and the silence so far from the last second."""
        self._running = True
        self._gate.reset()
        self._utterance, self._skipping, self._quiet = None, False, 0
        self._pre.clear()
        for past, level, echo in self._recent:
            speech = self._gate.speech_level(level, echo)
            self._quiet = 0 if speech else self._quiet + 1
            self._pre.append(self._to_send(past, level, echo))
        self._skipping = self._quiet < self._gap and bool(self._recent)

    def _step(self, chunk: bytes, speech: bool, t: float) -> None:
        utterance = self._utterance
        if speech:
            if utterance is not None:
                utterance.append(chunk)
                self._last = len(utterance) - 1
                if self._last - self._first + 1 > self._max:
                    self._utterance, self._skipping = None, True  # a sentence, not a stop word
            elif not self._skipping:
                if self._quiet >= self._gap:
                    self._utterance = utterance = [*self._pre, chunk]
                    self._first = self._last = len(utterance) - 1
                else:
                    self._skipping = True
            self._quiet = 0
        else:
            self._quiet += 1
            if utterance is not None:
                utterance.append(chunk)
                if self._quiet >= self._gap:
                    self._utterance = None
                    if self._last - self._first + 1 >= self._min:
                        self.utterances += 1
                        self._on_utterance(b"".join(utterance), t)
            elif self._skipping and self._quiet >= self._gap:
                self._skipping = False
        self._pre.append(chunk)


OnStop = Callable[[str, str, float], Awaitable[bool]]
"""Told of a stop word heard: (word, transcript, seconds from the utterance's end); True if
something was stopped."""


@dataclass
class Check:
    """One utterance waiting to be checked."""

    pcm: bytes
    ended: float  # time.perf_counter() when its end was heard


class StopWordSpotter:
    """The segmenter on the listener's thread and the checks by the STT server on the loop."""

    def __init__(self, settings: StopWordSettings, on_stop: OnStop) -> None:
        """Nothing is checked until `start()` and `set_active(True)`."""
        self.settings = settings
        self.words = stop_words(settings)
        self.hints = stop_hints(settings)
        self._on_stop = on_stop
        self.segmenter = Segmenter(self._from_thread)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: Check | None = None
        self._failing = False
        self.counts = {"checks": 0, "hits": 0, "misses": 0, "errors": 0, "dropped": 0}
        self.last: dict[str, Any] | None = None  # text, hit, decode_ms, at
        self.decode_s_total = 0.0
        self.on_decoded: Callable[[float], None] | None = None
        """Metrics: told of each transcript's delay after the utterance's end (seconds)."""

    @property
    def configured(self) -> bool:
        """A speech-to-text server is set."""
        return bool(self.settings.stt_uri)

    @property
    def active(self) -> bool:
        """Utterances are being cut now."""
        return self.segmenter.active

    def start(self) -> None:
        """Bind to the running loop (utterances are handed to it)."""
        self._loop = asyncio.get_running_loop()

    def set_active(self, active: bool) -> None:
        """Something plays and the stop word is on (checked often by the satellite)."""
        self.segmenter.active = active and self.configured and self._loop is not None

    async def close(self) -> None:
        """Stop cutting and cancel a check in flight."""
        self.segmenter.active = False
        self._pending = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def status(self) -> dict[str, Any]:
        """Counters, the mean decode delay and the last check."""
        decoded = self.counts["hits"] + self.counts["misses"]
        return {
            "configured": self.configured,
            "active": self.active,
            **self.counts,
            "decode_ms_mean": round(1000 * self.decode_s_total / decoded, 1) if decoded else None,
            "last": self.last,
        }

    def _from_thread(self, pcm: bytes, _t: float) -> None:
        ended = time.perf_counter()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing at shutdown
                loop.call_soon_threadsafe(self._queue, Check(pcm, ended))

    def _queue(self, check: Check) -> None:
        if self._task is not None and not self._task.done():
            if self._pending is not None:
                self.counts["dropped"] += 1
            self._pending = check  # the newest waits; an older one waiting is dropped
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(check), name="satellite stop word check"
        )

    async def _run(self, check: Check | None) -> None:
        while check is not None:
            try:
                await self._check(check)
            except Exception:
                _LOGGER.exception("Stop word check failed")
            check, self._pending = self._pending, None

    async def _check(self, check: Check) -> None:
        self.counts["checks"] += 1
        seconds = len(check.pcm) / (2 * RATE)
        try:
            text = await heard(
                self.settings.stt_uri,
                SEND_PAD + check.pcm + SEND_PAD,
                self.settings.language,
                self.words,
                self.hints,
            )
        except StopWordError as err:
            self.counts["errors"] += 1
            if not self._failing:
                _LOGGER.warning("Stop word not checked: %s (further failures at debug level)", err)
                self._failing = True
            else:
                _LOGGER.debug("Stop word not checked: %s", err)
            return
        if self._failing:
            _LOGGER.info("Stop word: the STT server answers again")
            self._failing = False
        delay = time.perf_counter() - check.ended
        self.decode_s_total += delay
        if self.on_decoded is not None:
            self.on_decoded(delay)
        word = normalise(text)
        hit = word in self.words
        self.last = {
            "text": text.strip()[:80],
            "hit": hit,
            "decode_ms": round(delay * 1000, 1),
            "at": round(time.time(), 3),
        }
        if not hit:
            self.counts["misses"] += 1
            _LOGGER.debug("Stop word check (%.2f s of audio): %r is not a stop word", seconds, text)
            return
        self.counts["hits"] += 1
        stopped = await self._on_stop(word, text, delay)
        _LOGGER.info(
            "Stop word %r heard (transcript %.0f ms after the utterance): %s",
            word,
            delay * 1000,
            "stopped" if stopped else "nothing played any more",
        )
