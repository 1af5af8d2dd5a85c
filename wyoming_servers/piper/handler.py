"""One Piper client connection: `describe`, one-shot `synthesize`, and streaming synthesis.

Speaking runs as background work of the connection (`spawn`), so the read loop keeps reading:
a client that leaves is noticed at once and its remaining pieces are dropped. One request is
spoken at a time per connection; another `synthesize`/`synthesize-start` meanwhile is refused
with `busy` (Home Assistant sends one at a time), so answers never interleave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
import logging
import time
from typing import Any

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
)

from wyoming_servers.piper.segmenter import Piece, Segmenter
from wyoming_servers.piper.service import MAX_TEXT_CHARS, RequestOptions, TtsService
from wyoming_wire import Limits, RequestError, SafeEventHandler

_LOGGER = logging.getLogger(__name__)

CHUNK_S = 0.1
"""Seconds of audio per `audio-chunk` event."""
LOW_LEAD_S = 1.0
"""While streaming, cut text early again when less audio than this is left to play."""

COST_MARGIN = 1.5
"""A one-shot reply cuts early when the next calm piece may take this share of the lead."""

_DONE = Piece("", "end")


class _Stream:
    """Text of one streaming request on its way to audio."""

    def __init__(self, options: RequestOptions) -> None:
        self.options = options
        self.segmenter = Segmenter(options.sentences_only)
        self.queue: asyncio.Queue[Piece] = asyncio.Queue()
        self.chars = 0
        self.started = time.monotonic()
        self.spoken_chars = 0
        """Characters of the pieces synthesized so far (one-shot requests count them)."""
        self.first_audio_at: float | None = None
        self.audio_s = 0.0
        self.closed = False
        """Its speaking ended (done, failed or refused): more text is dropped."""

    def eager(self, next_chars: int = 0) -> bool:
        """Cut at the next phrase boundary if the listener would otherwise wait.

        `next_chars`: length of the calm piece that would come instead (one-shot requests know
        it); cut early also when, at the pace synthesis has kept so far, it would not be ready
        before the audio already sent runs out.
        """
        if not self.queue.empty():
            return False
        if self.first_audio_at is None:
            return True
        now = time.monotonic()
        lead = self.audio_s - (now - self.first_audio_at)
        if lead < LOW_LEAD_S:
            return True
        if next_chars and self.spoken_chars:
            cost = (now - self.started) / self.spoken_chars * next_chars
            return lead < COST_MARGIN * cost
        return False

    def put(self, pieces: list[Piece]) -> None:
        for piece in pieces:
            self.queue.put_nowait(piece)

    async def pieces(self) -> AsyncIterator[Piece]:
        while (piece := await self.queue.get()) is not _DONE:
            yield piece


async def _as_needed(segmenter: Segmenter, stream: _Stream) -> AsyncIterator[Piece]:
    """A one-shot text's pieces, each cut once the previous one is synthesized.

    A piece is cut early (at a phrase) only while the listener would otherwise wait.
    """
    while (piece := segmenter.next_piece(stream.eager(segmenter.sentence_chars()))) is not None:
        yield piece
        stream.spoken_chars += len(piece.text)


class PiperEventHandler(SafeEventHandler):
    """Speaks text for one client."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Limits,
        service: TtsService,
        version: str,
    ) -> None:
        """Serve one connection with the shared service."""
        super().__init__(reader, writer, limits)
        self.service = service
        self.version = version
        self._owner = (self.host, self.client)
        self._stream: _Stream | None = None  # open: takes chunks until `synthesize-stop`
        self._job: asyncio.Task[None] | None = None  # the request being spoken

    async def handle_event(self, event: Event) -> bool:
        """Dispatch one event."""
        if Describe.is_type(event.type):
            await self.write_event(self.service.info(self.version).event())
        elif Synthesize.is_type(event.type):
            if self._stream is None:  # during streaming, HA repeats the text here: ignore it
                await self._synthesize(event)
        elif SynthesizeStart.is_type(event.type):
            await self._start(event)
        elif SynthesizeChunk.is_type(event.type):
            self._chunk(event)
        elif SynthesizeStop.is_type(event.type):
            self._stop()
        else:
            _LOGGER.debug("Ignoring %s from %s", event.type, self.client)
        return True

    def busy(self) -> bool:
        """Idle time counts while text may still come; not while only speaking is left."""
        return self._speaking() and self._stream is None

    def _speaking(self) -> bool:
        return self._job is not None and not self._job.done()

    def _refuse_if_busy(self) -> None:
        if self._speaking():
            raise RequestError(
                "still speaking the previous request: send the next one after audio-stop",
                "busy",
            )

    async def _synthesize(self, event: Event) -> None:
        text = event.data.get("text")
        if not isinstance(text, str):
            raise RequestError("synthesize needs a 'text' string", "bad-request")
        if len(text) > MAX_TEXT_CHARS:
            raise RequestError(f"text longer than {MAX_TEXT_CHARS} characters", "too-large")
        request = Synthesize.from_event(event)
        options = self.service.options(request.voice, event.data)
        self._refuse_if_busy()
        segmenter = Segmenter(options.sentences_only)
        pieces = segmenter.push(text, eager=True) + segmenter.flush()
        await self.service.check_cost(options, pieces, self._owner)
        _LOGGER.debug(
            "Synthesizing %d pieces for %s (%d characters of over-long runs dropped)",
            len(pieces),
            self.client,
            segmenter.dropped,
        )
        await self._audio_start(options)
        cutter = Segmenter(options.sentences_only)
        cutter.feed(text)
        pace = _Stream(options)  # only to follow what the listener has to play
        self._run(self._speak(options, _as_needed(cutter, pace), pace), "piper synthesize")

    async def _start(self, event: Event) -> None:
        if self._stream is not None:
            raise RequestError("synthesize-start while a stream is open", "wrong-order")
        request = SynthesizeStart.from_event(event)
        stream = _Stream(self.service.options(request.voice, event.data))
        self._refuse_if_busy()
        self._stream = stream
        await self._audio_start(stream.options)
        self._run(self._run_stream(stream), "piper stream")

    def _chunk(self, event: Event) -> None:
        stream = self._stream
        if stream is None:
            raise RequestError("synthesize-chunk before synthesize-start", "wrong-order")
        text = event.data.get("text")
        if not isinstance(text, str):
            raise RequestError("synthesize-chunk needs a 'text' string", "bad-request")
        if stream.closed:
            return  # its request failed and was answered with `error`: drop the rest
        stream.chars += len(text)
        if stream.chars > MAX_TEXT_CHARS:
            stream.closed = True
            if self._job is not None:
                self._job.cancel()
            raise RequestError(f"stream longer than {MAX_TEXT_CHARS} characters", "too-large")
        stream.put(stream.segmenter.push(text, eager=stream.eager()))

    def _stop(self) -> None:
        stream = self._stream
        if stream is None:
            raise RequestError("synthesize-stop before synthesize-start", "wrong-order")
        self._stream = None
        stream.put([*stream.segmenter.flush(), _DONE])

    def _run(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Speak in the background (the idle clock pauses once all text is in)."""
        self._job = self.spawn(work, name)
        self.touch_idle()

    async def _run_stream(self, stream: _Stream) -> None:
        try:
            await self._speak(stream.options, stream.pieces(), stream)
            await self.write_event(SynthesizeStopped().event())
        finally:
            stream.closed = True

    async def _audio_start(self, options: RequestOptions) -> None:
        rate = options.output_rate or options.voice.sample_rate
        await self.write_event(AudioStart(rate=rate, width=2, channels=1).event())

    async def _speak(
        self, options: RequestOptions, pieces: AsyncIterator[Piece], stream: _Stream | None
    ) -> None:
        """Audio chunks as pieces are synthesized, then `audio-stop`."""
        rate = options.output_rate or options.voice.sample_rate
        step = int(rate * CHUNK_S) * 2
        async for out_rate, pcm in self.service.speak(options, pieces, self._owner):
            for offset in range(0, len(pcm), step):
                chunk = AudioChunk(
                    rate=out_rate, width=2, channels=1, audio=pcm[offset : offset + step]
                )
                await self.write_event(chunk.event())
            if stream is not None and pcm:
                stream.first_audio_at = stream.first_audio_at or time.monotonic()
                stream.audio_s += len(pcm) / 2 / out_rate
        await self.write_event(AudioStop().event())
