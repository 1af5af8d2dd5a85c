"""The satellite's state machine between the listening chain, the speaker and Home Assistant.

Wire behaviour (what Home Assistant's `wyoming` integration expects from a satellite):

- HA connects, sends `run-satellite` (the satellite may now start pipelines), then
  `describe` and a `ping` every few seconds (answered with `pong`).
- Local wake word: on detection the satellite sends `detection`, `run-pipeline`
  (asr -> tts) and `audio-start`, then the command audio as `audio-chunk`s (16 kHz,
  16-bit mono, the pre-roll first) and `audio-stop` at the end of speech (own VAD) or
  when HA says `voice-stopped` / `transcript` / `error`.
- Remote wake word: after `run-satellite` it sends `run-pipeline` (wake -> tts,
  restart_on_end) and streams all audio; HA's wake word engine does the detection.
- HA speaks through `audio-start`/`audio-chunk`/`audio-stop` (TTS replies and
  announcements alike); once heard, the satellite answers `played`.
- Timers: `timer-*` events.
- `pause-satellite` (HA's mute switch) stops streaming until the next `run-satellite`.
  HA sends nothing when its switch is turned back off before its loop noticed the
  mute: it just goes on pinging (or restarts its loop with `describe`) on the same
  connection, so those also resume a paused satellite.
- Remote trigger (`supports_trigger` in `info`): a `run-pipeline` (asr -> …) from the
  server makes the satellite listen at once and send its own `run-pipeline` back.
- Continued conversation: HA's wyoming integration has no event for it; it runs HA's
  own rule on the reply text it sends in `synthesize` (a reply ending in a question mark
  continues the conversation) and reopens the mic after `played`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import enum
import logging
import time
from typing import Any, Protocol

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, Eventable
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detect, Detection

from satellite.config import SatelliteConfig
from satellite.listening import (
    CommandAudio,
    CommandTimeout,
    ListenEvent,
    SpeechStarted,
    SpeechStopped,
    StreamAudio,
    WakeDetected,
)
from satellite.timers import TimerBoard
from wyoming_wire import RequestError

from .access import Access, state_path
from .audio_out import AudioOut
from .chimes import resolve_chimes
from .events import CONTROL_TYPE, STATE_TYPE, Control
from .info import MIC_FORMAT, build_info
from .speaker import Speaker, Stream

_LOGGER = logging.getLogger(__name__)

QUESTION_ENDINGS = ("?", ";", "？")  # HA's own continue-conversation rule
REMOTE_RESTART_DELAY_S = 2.0
__all__ = ["CONTROL_TYPE", "STATE_TYPE", "Satellite", "SatelliteState"]


class SatelliteState(enum.StrEnum):
    """What the satellite is doing, seen from the protocol."""

    PAUSED = "paused"  # no Home Assistant connection driving it, or paused by HA
    IDLE = "idle"  # waiting for the wake word
    STREAMING = "streaming"  # sending a command (or everything, remote wake) to HA


class ListenerLike(Protocol):
    """What the satellite needs from `satellite.listening.Listener`."""

    muted: bool

    def start(self) -> None:
        """Start capturing."""

    def stop(self) -> None:
        """Stop and join."""

    def start_command(self, *, preroll: bool = False) -> None:
        """Stream a command without a wake word."""

    def cancel_command(self) -> None:
        """Abandon the command being streamed."""

    @property
    def finished(self) -> bool:
        """The source ended."""

    def metrics(self) -> dict[str, float]:
        """Per-stage cost per 10 ms frame (ms) and counters."""


class Peer(Protocol):
    """A connected client (see `tcp.Connection`)."""

    name: str

    async def send(self, event: Event) -> bool:
        """Write an event; False if the connection is gone."""

    def close(self) -> None:
        """Close the connection."""


class Satellite:
    """One satellite: listener + speaker, driven by one Wyoming connection at a time."""

    def __init__(
        self,
        config: SatelliteConfig,
        make_listener: Callable[[Callable[[ListenEvent], None]], ListenerLike],
        audio_out: AudioOut | None,
    ) -> None:
        """`make_listener(callback)` builds the listener; `audio_out` None = no speaker."""
        self.config = config
        self.info: Info = build_info(config)
        self._make_listener = make_listener
        self.speaker = Speaker(
            audio_out, resolve_chimes(config.sounds), config.behaviour.timer_alarm_s
        )
        secret = config.server.pairing_secret
        self.access = Access(
            config.server.allowed_peers,
            state_path(config.server.state_file),
            secret.encode() if secret else None,
        )
        # Transcripts and replies are the user's words: INFO only when asked for.
        self._text_level = logging.INFO if config.behaviour.log_text else logging.DEBUG
        self.listener: ListenerLike | None = None
        self.state = SatelliteState.PAUSED
        self.driver: Peer | None = None
        self.muted = config.behaviour.muted
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listen_queue: asyncio.Queue[ListenEvent] = asyncio.Queue()
        self._listen_task: asyncio.Task[None] | None = None
        self._stream_ms = 0
        self._follow_up_text: str | None = None
        self._bg: set[asyncio.Task[Any]] = set()
        self._remote_retry: asyncio.TimerHandle | None = None
        self._paused_by_server = False
        self._pings_since_pause = 0
        self._wake_at: float | None = None
        self.wake_to_audio_ms: float | None = None
        # Audio clock (seconds of microphone audio heard) of the last wake word and end of speech.
        self.last_wake: dict[str, Any] | None = None  # name, score, at_s
        self.last_speech_stopped_s: float | None = None
        self.timers = TimerBoard(self.speaker.alarm.start)
        self.stats: dict[str, int] = {
            "wake_words": 0,
            "pipelines": 0,
            "chunks_sent": 0,
            "bad_events": 0,
            "refused": 0,
        }

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Build and start the listener (models load in an executor thread)."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.access.load)
        listener = await self._loop.run_in_executor(
            None, self._make_listener, self._from_listener_thread
        )
        listener.muted = self.muted
        await self._loop.run_in_executor(None, listener.start)
        self.listener = listener
        self._listen_task = self._loop.create_task(self._listen_loop(), name="satellite listen")
        _LOGGER.info("Listening (wake word %s)", self.config.wake.word)

    async def stop(self) -> None:
        """Stop listening and playing; close the driving connection."""
        if self._remote_retry is not None:
            self._remote_retry.cancel()
        await self.speaker.alarm.stop()
        if self._listen_task is not None:
            self._listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen_task
        if self.listener is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.listener.stop)
        await self.speaker.close()
        for task in list(self._bg):
            task.cancel()
        for task in list(self._bg):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.driver is not None:
            self.driver.close()
            self.driver = None

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    # --- connections ---------------------------------------------------------------------

    async def handle_event(
        self, peer: Peer, event_type: str, value: Eventable | Control | None
    ) -> None:
        """Handle one checked event (`events.parse`) from a connection allowed to send it."""
        if isinstance(value, Describe):
            await peer.send(self.info.event())
            if peer is self.driver and self._paused_by_server:
                # HA's mute switch sends pause-satellite; when it is switched back off
                # quickly, HA goes on with its loop on the same connection (a new loop
                # starts with `describe`) and sends no new run-satellite.
                _LOGGER.info("Resumed: the server restarted its loop after pause")
                await self._run_satellite()
        elif isinstance(value, Ping):
            await peer.send(Pong(text=value.text).event())
            if peer is self.driver and self._paused_by_server:
                self._pings_since_pause += 1
                if self._pings_since_pause >= 2:
                    # A muted HA stops pinging (at most one ping was already on its
                    # way); a second one means it was unmuted and kept its loop.
                    _LOGGER.info("Resumed: the server kept pinging after pause")
                    await self._run_satellite()
        elif isinstance(value, Control):
            await self._control(peer, value)
        elif value is None:
            _LOGGER.debug("Ignored event from %s: %s", peer.name, event_type)
        else:
            if peer is not self.driver:
                await self._take_over(peer)
            await self._from_driver(value)

    async def _take_over(self, peer: Peer) -> None:
        old, self.driver = self.driver, peer
        if old is not None:
            _LOGGER.info("%s replaces %s as the driving connection", peer.name, old.name)
            old.close()
        else:
            _LOGGER.info("%s is driving the satellite", peer.name)
        self.speaker.drop()  # the old driver's reply must not delay the new one's
        await self._end_stream(send_stop=False)
        self._set_state(SatelliteState.PAUSED)
        self._paused_by_server = False
        self._follow_up_text = None

    def connection_lost(self, peer: Peer) -> None:
        """A connection closed; if it was driving, go back to waiting for one."""
        if peer is not self.driver:
            return
        _LOGGER.info("%s disconnected; waiting for Home Assistant", peer.name)
        self.driver = None
        self._paused_by_server = False
        self.speaker.drop()
        if self.listener is not None and self.state is SatelliteState.STREAMING:
            self.listener.cancel_command()
        self._follow_up_text = None
        self._set_state(SatelliteState.PAUSED)

    async def _send(self, event: Event) -> bool:
        driver = self.driver
        if driver is None:
            return False
        return await driver.send(event)

    def _set_state(self, state: SatelliteState) -> None:
        if state is not self.state:
            _LOGGER.debug("State %s -> %s", self.state, state)
            self.state = state

    @property
    def running(self) -> bool:
        """Home Assistant is connected and has sent `run-satellite`."""
        return self.driver is not None and self.state is not SatelliteState.PAUSED

    # --- events from Home Assistant ------------------------------------------------------

    async def _from_driver(self, value: Eventable) -> None:
        if isinstance(value, RunSatellite):
            await self._run_satellite()
        elif isinstance(value, PauseSatellite):
            _LOGGER.info("Paused by the server")
            await self._end_stream(send_stop=True)
            self._set_state(SatelliteState.PAUSED)
            self._paused_by_server = True
            self._pings_since_pause = 0
        elif isinstance(value, Detect | VoiceStarted | Transcribe):
            _LOGGER.debug("Server: %s", type(value).__name__)
        elif isinstance(value, Detection):
            _LOGGER.info("Server detected wake word %s", value.name)
            await self.speaker.interrupt()
            self.speaker.chime("wake")
        elif isinstance(value, VoiceStopped):
            if not self.config.wake.local:
                return
            await self._end_stream(send_stop=True)
        elif isinstance(value, Transcript):
            _LOGGER.log(self._text_level, "Transcript: %s", value.text)
            if self.config.wake.local:
                await self._end_stream(send_stop=True)
        elif isinstance(value, Synthesize):
            _LOGGER.log(self._text_level, "Reply: %s", value.text)
            self._follow_up_text = value.text
        elif isinstance(value, AudioStart):
            await self._begin_reply(value.rate, value.width, value.channels)
        elif isinstance(value, AudioChunk):
            await self._reply_chunk(value)
        elif isinstance(value, AudioStop):
            await self._end_reply()
        elif isinstance(value, Error):
            _LOGGER.warning("Server error %s: %s", value.code, value.text)
            if not (value.code or "").startswith("wake"):  # heard, not silence, for the user
                self.speaker.chime("error")
            self._follow_up_text = None
            await self._end_stream(send_stop=True)
            self._schedule_remote_restart()
        elif self.timers.handle(value):
            pass
        elif isinstance(value, RunPipeline):
            await self._triggered(value)
        else:
            _LOGGER.debug("Unexpected event from the server: %s", type(value).__name__)

    async def _run_satellite(self) -> None:
        _LOGGER.info("Server is ready (run-satellite)")
        self._paused_by_server = False
        if self.state is SatelliteState.PAUSED:
            self._set_state(SatelliteState.IDLE)
        if not self.config.wake.local and self.state is SatelliteState.IDLE:
            await self._start_remote_pipeline()

    async def _start_remote_pipeline(self) -> None:
        if self.muted or self.driver is None:
            return
        self._set_state(SatelliteState.STREAMING)
        self._stream_ms = 0
        self.stats["pipelines"] += 1
        await self._send(
            RunPipeline(
                start_stage=PipelineStage.WAKE,
                end_stage=PipelineStage.TTS,
                restart_on_end=True,
                wake_word_names=[self.config.wake.word],
            ).event()
        )
        await self._send(AudioStart(**_mic_format(), timestamp=0).event())

    def _schedule_remote_restart(self) -> None:
        """Remote wake: HA does not restart a pipeline after an error; ask again soon."""
        if self.config.wake.local or not self.running or self._loop is None:
            return
        if self._remote_retry is not None:
            self._remote_retry.cancel()

        def restart() -> None:
            self._remote_retry = None
            if self.running and not self.muted:
                self._spawn(self._start_remote_pipeline(), "satellite remote restart")

        self._remote_retry = self._loop.call_later(REMOTE_RESTART_DELAY_S, restart)

    # --- listener events ------------------------------------------------------------------

    def _from_listener_thread(self, event: ListenEvent) -> None:
        if isinstance(event, WakeDetected):
            self._wake_at = time.perf_counter()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing at shutdown
                loop.call_soon_threadsafe(self._listen_queue.put_nowait, event)

    async def _listen_loop(self) -> None:
        while True:
            event = await self._listen_queue.get()
            try:
                await self._on_listen_event(event)
            except Exception:
                _LOGGER.exception("Failed to handle %s", type(event).__name__)

    async def _on_listen_event(self, event: ListenEvent) -> None:
        if isinstance(event, CommandAudio | StreamAudio):
            if self.state is SatelliteState.STREAMING and not self.muted:
                await self._send_audio(event.pcm)
        elif isinstance(event, WakeDetected):
            await self._on_wake(event)
        elif isinstance(event, SpeechStarted):
            _LOGGER.debug("Speech started at %.2f s", event.t)
        elif isinstance(event, SpeechStopped):
            _LOGGER.debug("Speech stopped at %.2f s", event.t)
            self.last_speech_stopped_s = round(event.t, 3)
            await self._end_stream(send_stop=True, listener_done=True)
        elif isinstance(event, CommandTimeout):
            _LOGGER.info("Command ended: %s", event.reason.replace("_", " "))
            await self._end_stream(send_stop=True, listener_done=True)

    async def _on_wake(self, event: WakeDetected) -> None:
        assert self.listener is not None
        self.stats["wake_words"] += 1
        _LOGGER.info("Wake word %s (score %.2f) at %.2f s", event.name, event.score, event.t)
        self.last_wake = {
            "name": event.name,
            "score": round(event.score, 3),
            "at_s": round(event.t, 3),
        }
        if not self.running or self.muted:
            why = "Paused" if self.driver is not None else "Not connected to Home Assistant"
            _LOGGER.info("%s: wake word ignored", why)
            self._wake_at = None
            self.listener.cancel_command()
            return
        if self.state is SatelliteState.STREAMING:
            return  # already streaming a command
        if self.speaker.replying and not self.config.behaviour.barge_in:
            # Without barge-in, a wake word heard during a reply is most likely the
            # reply itself (no echo cancellation): ignore it.
            _LOGGER.info("Replying: wake word ignored")
            self._wake_at = None
            self.listener.cancel_command()
            return
        await self.speaker.interrupt()
        self._follow_up_text = None
        self.speaker.chime("wake")
        await self._start_command(event.name)

    async def _triggered(self, run: RunPipeline) -> None:
        """Remote trigger (`supports_trigger`): listen now, as if the wake word was heard."""
        if not (self.running and self.config.wake.local) or self.muted or self.listener is None:
            _LOGGER.info("Trigger ignored (not running, muted or remote wake word)")
            return
        if self.state is SatelliteState.STREAMING or run.start_stage != PipelineStage.ASR:
            _LOGGER.info("Trigger ignored (streaming already, or not from asr)")
            return
        _LOGGER.info("Triggered by the server")
        await self.speaker.interrupt()
        self._follow_up_text = None
        self.speaker.chime("wake")
        self.listener.start_command(preroll=False)
        await self._start_command(None, run.end_stage)

    async def _start_command(
        self, wake_word: str | None, end_stage: PipelineStage = PipelineStage.TTS
    ) -> None:
        self._set_state(SatelliteState.STREAMING)
        self._stream_ms = 0
        self.stats["pipelines"] += 1
        if wake_word is not None:
            await self._send(Detection(name=wake_word, timestamp=0).event())
        await self._send(
            RunPipeline(
                start_stage=PipelineStage.ASR, end_stage=end_stage, wake_word_name=wake_word
            ).event()
        )
        await self._send(AudioStart(**_mic_format(), timestamp=0).event())

    async def _send_audio(self, pcm: bytes) -> None:
        chunk = AudioChunk(audio=pcm, timestamp=self._stream_ms, **_mic_format())
        self._stream_ms += int(round(chunk.seconds * 1000))
        if await self._send(chunk.event()):
            self.stats["chunks_sent"] += 1
            if self._wake_at is not None:
                # Detection on the listener thread -> first command audio on the socket.
                latency_ms = (time.perf_counter() - self._wake_at) * 1000
                self._wake_at = None
                self.wake_to_audio_ms = round(latency_ms, 2)
                _LOGGER.debug("Wake word to first audio sent: %.1f ms", latency_ms)

    async def _end_stream(self, *, send_stop: bool, listener_done: bool = False) -> None:
        """Stop sending command audio (local wake); remote wake keeps streaming."""
        if self.state is not SatelliteState.STREAMING:
            return
        if not self.config.wake.local and self.running and not self.muted:
            return
        if self.listener is not None and not listener_done:
            self.listener.cancel_command()
        self._set_state(SatelliteState.IDLE if self.driver is not None else SatelliteState.PAUSED)
        if send_stop:
            await self._send(AudioStop(timestamp=self._stream_ms).event())
        self.speaker.chime("done")

    # --- replies -------------------------------------------------------------------------

    async def _begin_reply(self, rate: int, width: int, channels: int) -> None:
        error = await self.speaker.begin(
            rate, width, channels, owner=self.driver, on_finished=self._reply_finished
        )
        if error is not None:
            await self._send(error.event())

    async def _reply_chunk(self, chunk: AudioChunk) -> None:
        if not self.speaker.streaming and self.speaker.present:
            await self._begin_reply(chunk.rate, chunk.width, chunk.channels)
        error = self.speaker.add(chunk)
        if error is not None:
            await self._send(error.event())

    async def _end_reply(self) -> None:
        if self.speaker.present:
            self.speaker.end()
        else:
            await self._send(Played().event())  # no speaker: nothing to wait for

    async def _reply_finished(self, reply: Stream, current: bool) -> None:
        if reply.owner is not self.driver:
            return  # its driver was replaced or went away
        await self._send(Played().event())
        if not current:
            return
        text, self._follow_up_text = self._follow_up_text, None
        if (
            text is not None
            and text.strip().endswith(QUESTION_ENDINGS)
            and self.config.behaviour.follow_up
            and self.config.wake.local
            and self.running
            and not self.muted
            and self.state is SatelliteState.IDLE
            and reply.outcome == "played"
            and self.listener is not None
        ):
            _LOGGER.info("The reply asks a question: listening again")
            self.speaker.chime("wake")
            self.listener.start_command()
            await self._start_command(None)

    # --- mute and volume -----------------------------------------------------------------

    async def set_muted(self, muted: bool) -> None:
        """Mute: no audio leaves the device and the wake word is not listened for."""
        self.muted = muted
        if self.listener is not None:
            self.listener.muted = muted
        _LOGGER.info("Microphone %s", "muted" if muted else "on")
        if muted:
            await self._end_stream(send_stop=True)  # remote wake word too, as muted now
        elif not self.config.wake.local and self.running and self.state is SatelliteState.IDLE:
            await self._start_remote_pipeline()

    def set_volume(self, volume: float) -> None:
        """Speaker volume (0.0-1.0)."""
        self.speaker.set_volume(volume)
        _LOGGER.info("Volume %.2f", volume)

    @property
    def volume(self) -> float:
        """Current speaker volume."""
        return self.speaker.volume

    def status(self) -> dict[str, Any]:
        """State for the local control client and logs."""
        return {
            "state": str(self.state),
            "connected": self.driver is not None,
            "muted": self.muted,
            "volume": self.volume,
            "timers": {t.id: round(t.remaining(), 1) for t in self.timers.timers.values()},
            "alarm": self.speaker.alarm.ringing,
            "wake_to_audio_ms": self.wake_to_audio_ms,
            "last_wake": self.last_wake,
            "last_speech_stopped_s": self.last_speech_stopped_s,
            "listener": self.listener.metrics() if self.listener is not None else {},
            "speaker": self.speaker.status(),
            "access": self.access.status(),
            "wake_words": self.stats["wake_words"],
            "pipelines": self.stats["pipelines"],
            "chunks_sent": self.stats["chunks_sent"],
            "replies_played": self.speaker.replies_played,
            "bad_events": self.stats["bad_events"],
            "refused": self.stats["refused"],
            "replies_refused": self.speaker.replies_refused,
        }

    async def _control(self, peer: Peer, control: Control) -> None:
        """Local control (`jarvis-satellite control`): mute, volume, alarm, trusted driver."""
        if control.forget_driver and self.access.mode != "tofu":
            raise RequestError(
                f"no remembered driver to forget: access is by {self.access.mode}", "bad-request"
            )
        if control.muted is not None:
            await self.set_muted(control.muted)
        if control.volume is not None:
            self.set_volume(control.volume)
        if control.stop_alarm:
            await self.speaker.alarm.stop()
        if control.forget_driver:
            await self.access.forget()
        await peer.send(Event(type=STATE_TYPE, data=self.status()))


def _mic_format() -> dict[str, int]:
    return {"rate": MIC_FORMAT.rate, "width": MIC_FORMAT.width, "channels": MIC_FORMAT.channels}
