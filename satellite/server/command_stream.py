"""Microphone audio on its way to the driver: one pipeline's `run-pipeline`, audio, `audio-stop`.

`open()` sends what starts a pipeline (`detection` when the wake word was heard here, then
`run-pipeline` and `audio-start`) and moves the session to STREAMING; `send()` sends 16 kHz
16-bit mono chunks (`info.MIC_FORMAT`) timestamped in ms from the stream's start; `close()`
goes back to IDLE (PAUSED without a driver) and sends `audio-stop` if asked. It also measures
the delay from a wake word emitted on the listener thread to its first audio written to the
socket (`wake_to_audio_ms`). Each chunk goes through the residual echo gate first: what the
echo canceller left of a chime that plays (the wake chime) is notched out (`satellite.echo`).
"""

from __future__ import annotations

from collections.abc import Callable
import logging
import time

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.pipeline import RunPipeline
from wyoming.wake import Detection

from satellite.audio.reference import speaker_reference
from satellite.echo import ResidualEchoGate

from .info import MIC_FORMAT
from .session import SatelliteState, Session

_LOGGER = logging.getLogger(__name__)


class CommandStream:
    """The audio stream of the current pipeline, and counters over all of them."""

    def __init__(self, session: Session) -> None:
        """Sends through `session` (to its driver)."""
        self._session = session
        self._ms = 0
        self._wake_at: float | None = None
        self.pipelines = 0
        self.echo_gate = ResidualEchoGate(speaker_reference())
        self.chunks_sent = 0
        self.wake_to_audio_ms: float | None = None
        self.on_wake_to_audio: Callable[[float], None] | None = None
        """Metrics: told of each wake word's delay to its first audio sent (seconds)."""
        self.on_pipeline: Callable[[], None] | None = None
        """MQTT: told of each pipeline started."""

    def wake_heard(self, at: float) -> None:
        """A wake word was emitted at `perf_counter()` `at`: time its first audio."""
        self._wake_at = at

    def wake_ignored(self) -> None:
        """That wake word starts nothing: no delay to measure."""
        self._wake_at = None

    async def open(self, run: RunPipeline, detection: Detection | None = None) -> None:
        """Start a pipeline on the driver and stream to it."""
        self._session.set_state(SatelliteState.STREAMING)
        self._ms = 0
        self.pipelines += 1
        if self.on_pipeline is not None:
            self.on_pipeline()
        if detection is not None:
            await self._session.send(detection.event())
        await self._session.send(run.event())
        await self._session.send(AudioStart(**_mic_format(), timestamp=0).event())

    async def send(self, pcm: bytes) -> None:
        """Send one chunk of command audio."""
        pcm = self.echo_gate.process(pcm)
        chunk = AudioChunk(audio=pcm, timestamp=self._ms, **_mic_format())
        self._ms += int(round(chunk.seconds * 1000))
        if await self._session.send(chunk.event()):
            self.chunks_sent += 1
            if self._wake_at is not None:
                # Detection on the listener thread -> first command audio on the socket.
                latency_ms = (time.perf_counter() - self._wake_at) * 1000
                self._wake_at = None
                self.wake_to_audio_ms = round(latency_ms, 2)
                _LOGGER.debug("Wake word to first audio sent: %.1f ms", latency_ms)
                if self.on_wake_to_audio is not None:
                    self.on_wake_to_audio(latency_ms / 1000)

    async def close(self, *, send_stop: bool) -> None:
        """Stop streaming: back to IDLE (PAUSED without a driver), `audio-stop` if asked."""
        session = self._session
        session.set_state(
            SatelliteState.IDLE if session.driver is not None else SatelliteState.PAUSED
        )
        if send_stop:
            await session.send(AudioStop(timestamp=self._ms).event())


def _mic_format() -> dict[str, int]:
    return {"rate": MIC_FORMAT.rate, "width": MIC_FORMAT.width, "channels": MIC_FORMAT.channels}
