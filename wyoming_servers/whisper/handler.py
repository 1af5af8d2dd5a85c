"""One Wyoming client connection of the speech-to-text server.

While audio arrives, words the decoder has settled on are sent as they come: `transcript-start`
once, then `transcript-chunk`s (Wyoming 1.7 streaming); after `audio-stop` the rest of the text
in chunks, `transcript-stop`, and the full `transcript` (what clients that ignore chunks, like
Home Assistant's wyoming STT entity, read). Chunks are never taken back: where the final decode
disagrees with text already sent, no further chunk is sent and the `transcript` has the answer.

The final decode after `audio-stop` runs in the background (`spawn`), so the read loop keeps
reading: a client that leaves is noticed at once, and its queued decode leaves the queue (one
already running on a thread finishes, its result dropped). Requests sent while one decodes are
read on; their transcripts follow in request order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, TypeVar

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Describe

from wyoming_wire import Limits, RequestError, SafeEventHandler

from .audio import AudioConverter, AudioFormatError
from .engine import Decoded, LanguageError
from .ha_names import MAX_NAMES_SCANNED
from .stream import StreamingTranscriber

if TYPE_CHECKING:
    from .service import WhisperService

_LOGGER = logging.getLogger(__name__)
_E = TypeVar("_E", AudioStart, AudioChunk)
_SLICE = 1600
"""Samples (100 ms) the VAD handles before the loop may serve someone else."""
MAX_PENDING = 2
"""Finished utterances of one connection waiting for their transcripts (more: `busy`)."""


class WhisperHandler(SafeEventHandler):
    """describe -> info; [transcribe] audio-start, audio-chunk..., audio-stop -> transcript."""

    def __init__(
        self,
        service: WhisperService,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        limits: Limits,
    ) -> None:
        """Serve one client with the shared model and scheduler."""
        super().__init__(reader, writer, limits)
        self.service = service
        self._request: Transcribe | None = None
        self._converter: AudioConverter | None = None
        self._stream: StreamingTranscriber | None = None
        self._pending: list[asyncio.Task[None]] = []
        self._answered = False
        """The current stream's transcript went out before its audio-stop (early end of turn):
        its remaining chunks and audio-stop are ignored."""
        self._partials = 0
        """transcript-chunk events sent before audio-stop for the current stream."""
        self._started: StreamingTranscriber | None = None
        """The stream whose transcript-start was sent (with partial chunks)."""

    async def handle_event(self, event: Event) -> bool:
        """Dispatch one event; wrong order or bad fields raise RequestError (-> `error`)."""
        if Describe.is_type(event.type):
            await self.write_event(self.service.info.event())
        elif Transcribe.is_type(event.type):
            if self._stream is not None:
                self._drop_stream()
                raise RequestError("transcribe arrived in the middle of an audio stream", "order")
            self._request = Transcribe.from_event(event)
        elif AudioStart.is_type(event.type):
            await self._start(event)
        elif self._answered and AudioChunk.is_type(event.type):
            pass  # the turn already ended
        elif self._answered and AudioStop.is_type(event.type):
            self._answered = False
        elif AudioChunk.is_type(event.type):
            await self._chunk(event)
        elif AudioStop.is_type(event.type):
            await self._stop()
        else:
            _LOGGER.debug("Ignoring %s event from %s", event.type, self.client)
        return True

    async def _start(self, event: Event) -> None:
        self._answered = False
        if self._stream is not None:
            self._drop_stream()
            raise RequestError("audio-start arrived before the previous audio-stop", "order")
        start = _parse(AudioStart, event)
        try:
            self._converter = AudioConverter(start.rate, start.width, start.channels)
        except AudioFormatError as err:
            raise RequestError(str(err), "unsupported-format") from err
        request = self._request or Transcribe()
        self._request = None
        try:
            language = self.service.engine.pick_language(request.language)
        except LanguageError as err:
            raise RequestError(str(err), "unsupported-language") from err
        prompt = await self.service.prompt(
            _strings(request.transcript_names), _strings(request.transcript_terms)
        )
        self._stream = StreamingTranscriber(
            self.service.engine,
            self.service.scheduler,
            language,
            prompt=prompt,
            settings=self.service.options.stream,
            budget=self.service.audio_budget,
        )

    async def _chunk(self, event: Event) -> None:
        stream, converter = self._stream, self._converter
        if stream is None or converter is None:
            raise RequestError("audio-chunk arrived before audio-start", "order")
        chunk = _parse(AudioChunk, event)
        if not converter.same_format(chunk.rate, chunk.width, chunk.channels):
            self._drop_stream()
            raise RequestError(
                f"audio-chunk format {chunk.rate} Hz/{chunk.width * 8}-bit/{chunk.channels} ch "
                f"differs from audio-start's; stream dropped",
                "unsupported-format",
            )
        samples = converter.convert(chunk.audio or b"")
        for start in range(0, len(samples), _SLICE):
            if start:
                await asyncio.sleep(0)  # a huge chunk must not hold up other clients
            if self._stream is not stream:
                return  # dropped meanwhile
            if not stream.add(samples[start : start + _SLICE]):
                self._drop_stream()
                raise RequestError(
                    "server busy: too much audio buffered for all clients; stream dropped", "busy"
                )
        await self._send_partial(stream)
        if self._stream is stream and not self._pending and (early := stream.early_answer()):
            self._stream = self._converter = None
            self._answered = True
            stream.cancel()
            await self._send_transcript(stream, early, "early end of turn")
            return
        if stream.seconds > self.service.options.max_audio_s:
            self._drop_stream()
            raise RequestError(
                f"audio longer than {self.service.options.max_audio_s:g} s; stream dropped",
                "too-long",
            )

    async def _send_partial(self, stream: StreamingTranscriber) -> None:
        """Send newly settled words; not while an earlier transcript is still owed (order)."""
        if self._stream is not stream or any(not task.done() for task in self._pending):
            return
        text = stream.take_partial()
        if not text:
            return
        if self._started is not stream:
            self._started, self._partials = stream, 0
            await self.write_event(TranscriptStart(language=stream.language).event())
        self._partials += 1
        await self.write_event(TranscriptChunk(text=text).event())

    async def _stop(self) -> None:
        stream, converter = self._stream, self._converter
        if stream is None or converter is None:
            raise RequestError("audio-stop arrived before audio-start", "order")
        self._stream = self._converter = None
        if sum(not task.done() for task in self._pending) >= MAX_PENDING:
            stream.cancel()
            raise RequestError(
                f"{MAX_PENDING} transcriptions already waiting on this connection", "busy"
            )
        stream.add(converter.flush())
        previous = self._pending[-1] if self._pending else None
        task = self.spawn(self._finish(stream, previous), "whisper finish")
        self._pending.append(task)
        task.add_done_callback(self._pending.remove)

    async def _finish(
        self, stream: StreamingTranscriber, previous: asyncio.Task[None] | None
    ) -> None:
        """Decode one utterance and send its transcript after the previous request's."""
        try:
            if previous is not None:
                await asyncio.wait([previous])
            decoded = await stream.finish()
        finally:
            stream.cancel()  # on any way out: nothing stays queued or buffered for it
        await self._send_transcript(stream, decoded, "speculative" if stream.reused else "at stop")

    async def _send_transcript(
        self, stream: StreamingTranscriber, decoded: Decoded, how: str
    ) -> None:
        """Log it, then the rest of the chunks, transcript-stop and transcript."""
        partials = self._partials if self._started is stream else 0
        _LOGGER.info(
            "Transcribed %.2f s in %.3f s (%s, %d speculative, %d partial chunks)",
            stream.seconds,
            decoded.seconds,
            how,
            stream.speculative_decodes,
            partials,
            extra={"client": self.client, "language": decoded.language},
        )
        _LOGGER.log(
            logging.INFO if self.service.options.log_transcripts else logging.DEBUG,
            "Transcript for %s: %s",
            self.client,
            decoded.text,
            extra={"client": self.client},
        )
        if self._started is stream:
            self._started = None
            rest = stream.rest_of(decoded)
            if rest:
                await self.write_event(TranscriptChunk(text=rest).event())
        else:
            await self.write_event(TranscriptStart(language=decoded.language).event())
            for text in decoded.segments:
                await self.write_event(TranscriptChunk(text=text).event())
        await self.write_event(TranscriptStop().event())
        await self.write_event(Transcript(text=decoded.text, language=decoded.language).event())

    def _drop_stream(self) -> None:
        if self._stream is not None:
            self._stream.cancel()
        self._stream = self._converter = None

    async def disconnect(self) -> None:
        """Client gone: drop its stream (its pending transcriptions were cancelled already)."""
        self._drop_stream()


def _strings(value: object) -> list[str]:
    """The strings of a list field a client sent (anything else, and past the scan limit, ignored)."""
    if not isinstance(value, list):
        return []
    return [item for item in value[:MAX_NAMES_SCANNED] if isinstance(item, str)]


def _parse(cls: type[_E], event: Event) -> _E:
    try:
        return cls.from_event(event)
    except (KeyError, TypeError, ValueError) as err:
        raise RequestError(f"malformed {event.type} event: {err!r}", "bad-event") from err
