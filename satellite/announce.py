"""Announcements: a text spoken by a Wyoming TTS server and played on the satellite's speaker.

`[mqtt] announce_tts_uri` names the TTS server (the Jarvis Piper server, or any Wyoming TTS:
`tcp://HOST:10200`); `command/announce` (`satellite.mqtt`) hands the text to `Announcer`. The
satellite connects as a Wyoming client, sends `synthesize`, reads the reply up to `audio-stop`
under limits (connection and whole-reply timeouts, payload and audio length caps; events read
with `wyoming_wire.read_event`), and only then plays it, whole, as one stream of its speaker:
a reply from Home Assistant that starts meanwhile plays after it, and `command/stop` or the
wake word stops it like a reply. Nothing is played when synthesis fails; the caller gets an
`AnnounceError` that says why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import logging

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import async_write_event
from wyoming.tts import Synthesize, SynthesizeVoice

from satellite.config import MqttSettings
from satellite.server.speaker import Speaker, Stream
from satellite.service_client import service_call
from wyoming_wire import Limits, StreamBroken, read_event

_LOGGER = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
"""To reach the TTS server."""
SYNTHESIS_TIMEOUT_S = 30.0
"""From `synthesize` sent to `audio-stop` received."""
MAX_AUDIO_S = 120.0
"""Longest announcement accepted from the TTS server."""
MAX_AUDIO_BYTES = 24 * 1024 * 1024
"""Most audio kept in memory for one announcement, whatever format the server claims."""
LIMITS = Limits(max_payload_bytes=1024 * 1024, max_data_bytes=64 * 1024, body_timeout_s=10.0)


class AnnounceError(Exception):
    """An announcement that cannot be made; the message says why."""


@dataclass
class Speech:
    """The audio of one announcement."""

    chunks: list[AudioChunk] = field(default_factory=list)
    seconds: float = 0.0
    size: int = 0  # bytes


def _chunk_seconds(chunk: AudioChunk) -> float:
    frame = chunk.width * chunk.channels
    if chunk.rate <= 0 or frame <= 0:
        raise AnnounceError(f"the TTS server sent audio in an unusable format ({chunk.rate} Hz)")
    return len(chunk.audio) / (chunk.rate * frame)


async def synthesize(uri: str, text: str, voice: str = "") -> Speech:
    """The speech of `text` from the Wyoming TTS server at `uri` (AnnounceError if none)."""
    async with service_call(
        uri, "TTS server", AnnounceError,
        connect_s=CONNECT_TIMEOUT_S, answer_s=SYNTHESIS_TIMEOUT_S, no_answer="did not finish",
    ) as (reader, writer):  # fmt: skip
        request = Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None)
        await async_write_event(request.event(), writer)
        return await _read_speech(reader)


async def _read_speech(reader: asyncio.StreamReader) -> Speech:
    speech = Speech()
    while True:
        event = await read_event(reader, LIMITS)
        if event is None:
            raise AnnounceError("the TTS server closed the connection before the end of the speech")
        if Error.is_type(event.type):
            error = Error.from_event(event)
            raise AnnounceError(f"the TTS server refused: {error.text} ({error.code})")
        if AudioStart.is_type(event.type):
            continue
        if AudioChunk.is_type(event.type):
            if event.payload is None:
                continue
            try:
                chunk = AudioChunk.from_event(event)
            except (KeyError, TypeError, ValueError):
                raise StreamBroken(
                    "an audio-chunk without rate, width or channels", "bad-data"
                ) from None
            speech.seconds += _chunk_seconds(chunk)
            speech.size += len(chunk.audio)
            if speech.seconds > MAX_AUDIO_S or speech.size > MAX_AUDIO_BYTES:
                raise AnnounceError(f"the speech is longer than {MAX_AUDIO_S:g} s")
            speech.chunks.append(chunk)
        elif AudioStop.is_type(event.type):
            if not speech.chunks:
                raise AnnounceError("the TTS server sent no audio")
            return speech


Played = Callable[[str, float], Awaitable[None] | None]
"""Told how an announcement ended (`played`, `stopped`, `refused`) and its seconds."""


class Announcer:
    """Speaks texts on one satellite's speaker through the TTS server of `[mqtt]`."""

    def __init__(self, speaker: Speaker, settings: MqttSettings, *, log_text: bool = False) -> None:
        """Nothing connects until `announce()`."""
        self.speaker = speaker
        self.settings = settings
        self._text_level = logging.INFO if log_text else logging.DEBUG

    def check(self, text: str) -> str:
        """The text to speak, stripped; AnnounceError if it cannot be announced."""
        if not self.settings.announce_tts_uri:
            raise AnnounceError(
                "announcements need a TTS server: set [mqtt] announce_tts_uri "
                "(e.g. tcp://127.0.0.1:10200)"
            )
        text = text.strip()
        if not text:
            raise AnnounceError("nothing to announce: the text is empty")
        most = self.settings.announce_max_chars
        if len(text) > most:
            raise AnnounceError(f"the text has {len(text)} characters, more than {most}")
        if not self.speaker.present:
            raise AnnounceError("this satellite has no speaker")
        return text

    async def announce(self, text: str, on_played: Played | None = None) -> float:
        """Synthesize `text` and queue it on the speaker; the seconds queued.

        `on_played(outcome, seconds)` is called once it has been heard (or stopped).
        """
        text = self.check(text)
        _LOGGER.log(self._text_level, "Announcement: %s", text)
        speech = await synthesize(
            self.settings.announce_tts_uri, text, self.settings.announce_voice
        )
        await self._play(speech, on_played)
        _LOGGER.info("Announcement queued (%.1f s)", speech.seconds)
        return speech.seconds

    async def _play(self, speech: Speech, on_played: Played | None) -> None:
        async def finished(stream: Stream, _current: bool) -> None:
            if on_played is not None:
                result = on_played(stream.outcome, stream.seconds)
                if result is not None:
                    await result

        first = speech.chunks[0]
        error = await self.speaker.begin(
            first.rate, first.width, first.channels, owner=self, on_finished=finished
        )
        if error is None:
            # No await from here to end(): the whole speech is one stream, nothing interleaves.
            for chunk in speech.chunks:
                error = self.speaker.add(chunk)
                if error is not None:
                    break
        self.speaker.end()
        if error is not None:
            raise AnnounceError(error.text)
