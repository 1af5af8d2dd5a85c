"""The text-to-speech service shared by all connections: voices, options, and fair turns.

Blocking work runs on a small executor in turns: round-robin over peer addresses, then over
each address's connections, one job (a chunk of at most `MAX_CHUNK_PHONEMES`) per turn. So a
request waits for at most one chunk of each other busy address, however long their replies or
however many connections they open; a job whose connection left before its turn never runs.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
import logging
from pathlib import Path
import time
from typing import Any, TypeVar

from wyoming.info import Attribution, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.tts import SynthesizeVoice

from wyoming_servers.piper.joiner import Joiner
from wyoming_servers.piper.segmenter import PAUSE_S, PHRASE, SENTENCE, Piece
from wyoming_servers.piper.voices import (
    LoadedVoice,
    Phonemes,
    VoiceCache,
    VoiceEntry,
    VoiceError,
    find_voices,
)
from wyoming_wire import RequestError
from wyoming_wire.heap import heap_trimmer

_LOGGER = logging.getLogger(__name__)

OUTPUT_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
MAX_TEXT_CHARS = 20_000
"""Longest text of one request (about 20 minutes of speech)."""
MAX_REQUEST_PHONEMES = 30_000
"""Most phonemes one request may cost: about what `MAX_TEXT_CHARS` of plain prose needs, so
text that expands when read aloud (emoji names, long numbers) cannot multiply that cost."""
CHECK_COST_CHARS = 1_000
"""A one-shot text longer than this has its cost checked before any audio is sent."""

_T = TypeVar("_T")
Owner = tuple[str, str]
"""Who a job is for: (peer address, connection)."""
SynthesisObserver = Callable[[float, float], None]
"""Told (seconds of audio, seconds of inference) for each chunk synthesized, on its thread."""
_PIPER_ATTRIBUTION = Attribution(name="rhasspy", url="https://github.com/OHF-Voice/piper1-gpl")


@dataclass(frozen=True)
class RequestOptions:
    """What one synthesis request asked for, checked."""

    voice: VoiceEntry
    speaker_id: int | None
    length_scale: float | None
    output_rate: int | None
    sentences_only: bool = False
    """Plain sentence-level streaming (`"chunking": "sentence"`), the baseline to compare with."""


@dataclass(frozen=True)
class _Job:
    call: Callable[[], Any]
    future: asyncio.Future[Any]


class FairQueue:
    """Runs blocking calls on an executor, in turns across peer addresses and connections."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        workers: int,
        after: Callable[[], None] | None = None,
    ) -> None:
        """Feed `executor`, keeping at most `workers` calls on it (none wait inside it).

        `after` runs on the executor thread after each call (`heap_trimmer`).
        """
        self._executor = executor
        self._workers = workers
        self._after = after
        self._running = 0
        self._waiting: OrderedDict[str, OrderedDict[str, deque[_Job]]] = OrderedDict()

    @property
    def workers(self) -> int:
        """Calls that may run at once."""
        return self._workers

    @property
    def running(self) -> int:
        """Calls running now."""
        return self._running

    @property
    def waiting(self) -> int:
        """Calls waiting for their turn (some may have been cancelled meanwhile)."""
        return sum(len(jobs) for conns in self._waiting.values() for jobs in conns.values())

    async def run(self, owner: Owner, func: Callable[..., _T], *args: Any) -> _T:
        """`func(*args)` on the executor when `owner`'s turn comes.

        Cancelling the caller drops the call if it has not started (one that has finishes).
        """
        call = (
            partial(func, *args) if self._after is None else partial(_then, func, args, self._after)
        )
        job = _Job(call, asyncio.get_running_loop().create_future())
        host, conn = owner
        self._waiting.setdefault(host, OrderedDict()).setdefault(conn, deque()).append(job)
        self._start_next()
        result: _T = await job.future
        return result

    def _next(self) -> _Job | None:
        while self._waiting:
            host, conns = next(iter(self._waiting.items()))
            conn, jobs = next(iter(conns.items()))
            job = jobs.popleft()
            if not jobs:
                del conns[conn]
            else:
                conns.move_to_end(conn)
            if not conns:
                del self._waiting[host]
            else:
                self._waiting.move_to_end(host)
            if not job.future.done():  # not cancelled while waiting
                return job
        return None

    def _start_next(self) -> None:
        loop = asyncio.get_running_loop()
        while self._running < self._workers and (job := self._next()) is not None:
            try:
                done = loop.run_in_executor(self._executor, job.call)
            except RuntimeError as err:  # the executor was shut down: the server is stopping
                job.future.set_exception(err)
                continue
            self._running += 1
            done.add_done_callback(partial(self._finished, job))

    def _finished(self, job: _Job, done: asyncio.Future[Any]) -> None:
        self._running -= 1
        err = None if done.cancelled() else done.exception()  # retrieved even if unwanted
        if not job.future.done():
            if done.cancelled():
                job.future.cancel()
            elif err is not None:
                job.future.set_exception(err)
            else:
                job.future.set_result(done.result())
        self._start_next()


def _then(func: Callable[..., _T], args: tuple[Any, ...], after: Callable[[], None]) -> _T:
    try:
        return func(*args)
    finally:
        after()


@dataclass
class _Budget:
    """What is left of one request's phoneme budget."""

    left: int = MAX_REQUEST_PHONEMES

    def spend(self, chunks: list[Phonemes]) -> None:
        self.left -= sum(len(chunk.symbols) for chunk in chunks)
        if self.left < 0:
            raise RequestError(
                f"text too costly to speak (more than {MAX_REQUEST_PHONEMES} phonemes)",
                "too-large",
            )


class TtsService:
    """Voices, defaults and one executor for every client of a Piper server."""

    def __init__(
        self,
        voice: str,
        data_dirs: list[Path],
        *,
        speaker: str | None = None,
        length_scale: float | None = None,
        output_rate: int | None = None,
        threads: int = 1,
        log_text: bool = False,
    ) -> None:
        """Find the voices (blocking file reads, done once at startup).

        The text to speak is logged at DEBUG, or at INFO with `log_text`.
        """
        self.voices = find_voices(voice, data_dirs)
        self.default = next(iter(self.voices.values()))
        self.default_speaker = speaker
        self.default.speaker_id(speaker)  # fail at startup on a bad default speaker
        self.length_scale = length_scale
        self.output_rate = output_rate
        self.cache = VoiceCache()
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="piper")
        # Freed buffers go back to the system after each piece: in `jarvis-servers` the heap
        # keeps large blocks for Whisper (`reuse_large_buffers`), and a long attack's pieces
        # piled up there (test_piper_limits peak 676 MB against 444 MB before; 523 MB with it).
        self.queue = FairQueue(self.executor, threads, after=heap_trimmer())
        self.text_level = logging.INFO if log_text else logging.DEBUG
        self.on_synthesized: SynthesisObserver | None = None
        """Metrics: called for every chunk synthesized (real-time factor)."""

    def close(self) -> None:
        """Stop the executor threads."""
        self.executor.shutdown(wait=True, cancel_futures=True)

    async def preload(self) -> None:
        """Load the default voice before the first client comes."""
        await self.voice(self.default, ("server", "preload"))

    async def voice(self, entry: VoiceEntry, owner: Owner) -> LoadedVoice:
        """The loaded voice, loading it in the executor on first use."""
        if (loaded := self.cache.peek(entry)) is not None:
            return loaded
        return await self.queue.run(owner, self.cache.get, entry)

    async def check_cost(self, options: RequestOptions, pieces: list[Piece], owner: Owner) -> None:
        """Refuse a long text whose phonemes exceed one request's budget, before speaking it."""
        if sum(len(piece.text) for piece in pieces) <= CHECK_COST_CHARS:
            return
        voice = await self.voice(options.voice, owner)
        texts = [piece.synth_text for piece in pieces]
        chunks = await self.queue.run(owner, _phonemes_of, voice, texts, options.length_scale)
        _Budget().spend(chunks)

    def info(self, version: str) -> Info:
        """The `info` event: one TTS program listing every voice with languages and speakers."""
        voices = [
            TtsVoice(
                name=entry.name,
                description=f"{entry.name} ({entry.sample_rate} Hz)",
                attribution=_PIPER_ATTRIBUTION,
                installed=True,
                version=entry.version,
                languages=entry.languages,
                speakers=[TtsVoiceSpeaker(name=s) for s in entry.speakers] or None,
            )
            for entry in self.voices.values()
        ]
        program = TtsProgram(
            name="jarvis-piper",
            description="Piper text to speech with early, seamless streaming (Jarvis)",
            attribution=Attribution(name="Jarvis", url="https://github.com/OHF-Voice/piper1-gpl"),
            installed=True,
            version=version,
            voices=voices,
            supports_synthesize_streaming=True,
        )
        return Info(tts=[program])

    def options(self, voice: SynthesizeVoice | None, data: dict[str, Any]) -> RequestOptions:
        """Check a request: voice, speaker, and the extra fields below.

        Extra `synthesize`/`synthesize-start` data fields (Jarvis extensions): `speed` (2.0 = twice
        as fast) or `length_scale`, `sample_rate` (native or one of `OUTPUT_RATES`) and
        `chunking` ("early", the default, or "sentence").
        """
        entry = self.default
        speaker = self.default_speaker
        if voice is not None and voice.name:
            found = self.voices.get(voice.name)
            if found is None:
                raise RequestError(f"voice {voice.name!r} is not installed", VoiceError.code)
            entry, speaker = found, voice.speaker
        elif voice is not None and voice.language:
            entry = self._by_language(voice.language)
        try:
            speaker_id = entry.speaker_id(speaker)
        except VoiceError as err:
            raise RequestError(str(err), "unknown-speaker") from err
        length_scale = self.length_scale
        if data.get("length_scale") is not None:
            length_scale = _number(data["length_scale"], "length_scale", 0.25, 4.0)
        if data.get("speed") is not None:
            length_scale = (length_scale or 1.0) / _number(data["speed"], "speed", 0.25, 4.0)
        rate = data.get("sample_rate", self.output_rate)
        if rate in (None, 0, "native"):
            rate = None
        elif rate not in OUTPUT_RATES:
            raise RequestError(f"sample_rate must be one of {OUTPUT_RATES} or 'native'", "bad-rate")
        chunking = data.get("chunking", "early")
        if chunking not in ("early", "sentence"):
            raise RequestError("chunking must be 'early' or 'sentence'", "bad-option")
        return RequestOptions(entry, speaker_id, length_scale, rate, chunking == "sentence")

    def _by_language(self, language: str) -> VoiceEntry:
        want = language.replace("-", "_").lower()
        for entry in self.voices.values():
            if any(lang.lower() == want for lang in entry.languages):
                return entry
        for entry in self.voices.values():
            if any(lang.lower().split("_")[0] == want.split("_")[0] for lang in entry.languages):
                return entry
        raise RequestError(f"no installed voice speaks {language!r}", VoiceError.code)

    async def speak(
        self, options: RequestOptions, pieces: AsyncIterator[Piece], owner: Owner
    ) -> AsyncIterator[tuple[int, bytes]]:
        """Yield (rate, PCM) chunk by chunk as pieces are synthesized; the last item flushes.

        Each chunk is one turn of `owner` in the fair queue; synthesis, trimming and resampling
        all run there, never on the loop. Raises RequestError once the request's phoneme
        budget is spent.
        """
        voice = await self.voice(options.voice, owner)
        joiner = Joiner(voice.sample_rate, options.output_rate)
        budget = _Budget()
        pause = 0.0
        first = partial(_first_chunk, observe=self.on_synthesized)
        render = partial(_render, observe=self.on_synthesized)
        async for piece in pieces:
            _LOGGER.log(self.text_level, "Speaking for %s: %s", owner[1], piece.text)
            pcm, chunks = await self.queue.run(owner, first, voice, joiner, piece, pause, options)
            budget.spend(chunks)
            yield joiner.out_rate, pcm
            for chunk in chunks[1:]:
                gap = PAUSE_S[SENTENCE if chunk.starts_sentence else PHRASE]
                pcm = await self.queue.run(owner, render, voice, joiner, chunk, gap, options)
                yield joiner.out_rate, pcm
            pause = piece.pause_after
        yield joiner.out_rate, await self.queue.run(owner, joiner.finish)


def _phonemes_of(voice: LoadedVoice, texts: list[str], scale: float | None) -> list[Phonemes]:
    # Piece by piece, as spoken: espeak reads a long text of numbers more cheaply as a whole.
    return [chunk for text in texts for chunk in voice.phonemes(text, scale)]


def _first_chunk(
    voice: LoadedVoice,
    joiner: Joiner,
    piece: Piece,
    pause: float,
    options: RequestOptions,
    *,
    observe: SynthesisObserver | None = None,
) -> tuple[bytes, list[Phonemes]]:
    """A piece's phonemes, and the PCM of its first chunk: one turn for a usual piece."""
    chunks = voice.phonemes(piece.synth_text, options.length_scale)
    if not chunks:
        return b"", chunks
    return _render(voice, joiner, chunks[0], pause, options, observe=observe), chunks


def _render(
    voice: LoadedVoice,
    joiner: Joiner,
    chunk: Phonemes,
    pause: float,
    options: RequestOptions,
    *,
    observe: SynthesisObserver | None = None,
) -> bytes:
    started = time.perf_counter()
    audio = voice.audio(chunk, options.speaker_id, options.length_scale)
    if observe is not None and len(audio):
        observe(len(audio) / voice.sample_rate, time.perf_counter() - started)
    return joiner.add(audio, pause)


def _number(value: Any, name: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise RequestError(f"{name} must be a number from {low} to {high}", "bad-option")
    return float(value)
