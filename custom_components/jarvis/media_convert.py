"""Media to the satellite's PCM: HA's ffmpeg converts, and the stream is paced at real time.

Sources are resolved locally where HA has them, so nothing goes over HTTP to HA itself:
a TTS proxy URL reads the TTS stream by its token, HA's preannounce sound is read from its
file, `file://` URLs and paths must be in `allowlist_external_dirs`; other URLs (http, https)
go to ffmpeg as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
import contextlib
from dataclasses import dataclass
import logging
from pathlib import Path
import re
import time
from urllib.parse import unquote, urlsplit

from homeassistant.components import ffmpeg, tts
from homeassistant.components.assist_satellite.const import PREANNOUNCE_URL
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from wyoming.audio import AudioChunk, AudioStart, AudioStop

from .satellite_link import SatelliteLink

_LOGGER = logging.getLogger(__name__)

_TTS_PROXY = re.compile(r"/api/tts_proxy/([^/?#]+)")
PREANNOUNCE_FILE = (
    Path(tts.__file__).parent.parent / "assist_satellite" / PREANNOUNCE_URL.rsplit("/", 1)[-1]
)
CHUNK_SECONDS = 0.05
MAX_LEAD_S = 1.0  # paced streams stay at most this far ahead of real time (contract: <= 2 s)


@dataclass(frozen=True)
class PcmFormat:
    """Raw PCM: rate (Hz), width (bytes), channels."""

    rate: int = 22050
    width: int = 2
    channels: int = 1

    @property
    def bytes_per_second(self) -> int:
        """Bytes of one second of audio."""
        return self.rate * self.width * self.channels


type Source = str | AsyncIterable[bytes]


def resolve_source(hass: HomeAssistant, url: str) -> Source:
    """What ffmpeg should read for `url` (a local stream or file where HA has one)."""
    if match := _TTS_PROXY.search(url):
        token = match.group(1)
        if (stream := tts.async_get_stream(hass, token)) is not None:
            return stream.async_stream_result()
    parts = urlsplit(url)
    if parts.path == PREANNOUNCE_URL:
        return str(PREANNOUNCE_FILE)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if not hass.config.is_allowed_path(path):
            raise HomeAssistantError(f"{path} is not in allowlist_external_dirs")
        return path
    if parts.scheme not in ("http", "https"):
        raise HomeAssistantError(f"Cannot play {parts.scheme or 'relative'} URLs: {url}")
    return url


async def async_convert(
    hass: HomeAssistant, source: Source, fmt: PcmFormat
) -> AsyncIterator[bytes]:
    """Decode `source` with HA's ffmpeg into chunks of `fmt` PCM (~50 ms each)."""
    binary = ffmpeg.get_ffmpeg_manager(hass).binary
    from_pipe = not isinstance(source, str)
    proc = await asyncio.create_subprocess_exec(
        binary,
        *(() if from_pipe else ("-nostdin",)),
        "-protocol_whitelist",
        "pipe,file,http,https,tcp,tls",
        "-i",
        "pipe:0" if from_pipe else str(source),
        "-f",
        f"s{fmt.width * 8}le",
        "-ac",
        str(fmt.channels),
        "-ar",
        str(fmt.rate),
        "-nostats",
        "-loglevel",
        "error",
        "pipe:1",
        stdin=asyncio.subprocess.PIPE if from_pipe else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        close_fds=False,
    )
    feeder = None
    if from_pipe:
        assert not isinstance(source, str)
        feeder = asyncio.create_task(_feed(proc, source))
    chunk_bytes = int(fmt.bytes_per_second * CHUNK_SECONDS) // (fmt.width * fmt.channels)
    chunk_bytes *= fmt.width * fmt.channels
    assert proc.stdout is not None and proc.stderr is not None
    try:
        pending = b""
        while data := await proc.stdout.read(chunk_bytes):
            pending += data
            while len(pending) >= chunk_bytes:
                yield pending[:chunk_bytes]
                pending = pending[chunk_bytes:]
        if pending:
            yield pending[: len(pending) - len(pending) % (fmt.width * fmt.channels)]
        await proc.wait()
        if proc.returncode:
            error = (await proc.stderr.read()).decode(errors="replace").strip()
            raise HomeAssistantError(f"ffmpeg could not convert the media: {error[-300:]}")
    finally:
        if feeder is not None:
            feeder.cancel()
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


async def _feed(proc: asyncio.subprocess.Process, source: AsyncIterable[bytes]) -> None:
    assert proc.stdin is not None
    try:
        async for data in source:
            proc.stdin.write(data)
            await proc.stdin.drain()
    except BrokenPipeError, ConnectionResetError:
        pass
    finally:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.close()


class Pacer:
    """Keeps a stream at most `MAX_LEAD_S` ahead of real time."""

    def __init__(self, fmt: PcmFormat) -> None:
        """Starts now."""
        self._fmt = fmt
        self._start = time.monotonic()
        self.sent_s = 0.0

    async def async_wait(self, nbytes: int) -> None:
        """Count `nbytes` as sent; sleep while they would be too far ahead."""
        self.sent_s += nbytes / self._fmt.bytes_per_second
        ahead = self.sent_s - (time.monotonic() - self._start)
        if ahead > MAX_LEAD_S:
            await asyncio.sleep(ahead - MAX_LEAD_S)

    def restart(self) -> None:
        """After a pause: real time starts again from what was sent."""
        self._start = time.monotonic() - self.sent_s + MAX_LEAD_S


async def async_send_voice(
    hass: HomeAssistant, link: SatelliteLink, sources: list[Source], fmt: PcmFormat
) -> float:
    """Stream `sources` in turn as one `audio-*` stream, played over media; seconds sent."""
    await link.async_send(AudioStart(fmt.rate, fmt.width, fmt.channels).event())
    sent = 0
    try:
        for source in sources:
            async for pcm in async_convert(hass, source, fmt):
                await link.async_send(AudioChunk(fmt.rate, fmt.width, fmt.channels, pcm).event())
                sent += len(pcm)
    finally:
        await link.async_send(AudioStop().event())
    return sent / fmt.bytes_per_second


def speaker_format(link: SatelliteLink) -> PcmFormat:
    """The satellite's speaker format, from its `info` (22050 Hz mono 16-bit if unknown)."""
    info = link.info
    if info is not None and info.snd and info.snd[0].snd_format is not None:
        snd = info.snd[0].snd_format
        return PcmFormat(snd.rate, snd.width, snd.channels)
    return PcmFormat()
