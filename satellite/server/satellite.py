"""The satellite: its parts wired together, and each event routed to the part that handles it.

The parts, one module each: `session` (who drives, PAUSED/IDLE/STREAMING, follow-ups),
`microphone` (the listener on its thread), `speaker` (streams from the driver, chimes, the
timer alarm), `wake_modes` (local or remote wake word: how commands start and end) with
`command_stream` (the audio sent to the driver), `satellite.timers`, and the `gate` (access
control and event checks) that every event passes in `connection` before it reaches
`Satellite.handle_event`.

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

The Jarvis integration adds its own events (README, "Jarvis satellite protocol"): the control
event's wake word, sensitivity, follow-up, stop word, stop, state pushes (`state_push`) and
wake arbitration (`arbitration`); media (`media`) mixed under the voice and ducked while the
satellite wakes, listens, waits for or plays a reply, chimes or rings. The stop word
(`satellite.stop_word`, on with the control event's `stop_word` or `[stop_word] enabled`, and a
`[stop_word] stt_uri`) does what `stop` does; subscribed peers get a `jarvis-stop-word` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
import logging
import threading
import time
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.pipeline import RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming.snd import Played
from wyoming.timer import TimerFinished, TimerStarted
from wyoming.tts import Synthesize
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detect, Detection

from satellite.config import SatelliteConfig
from satellite.listening import (
    CommandAudio,
    CommandTimeout,
    Listener,
    ListenEvent,
    SpeechStopped,
    StreamAudio,
    WakeDetected,
)
from satellite.stop_word import StopWordSpotter
from satellite.timers import TimerBoard

from .audio_out import AudioOut
from .chimes import resolve_chimes
from .command_stream import CommandStream
from .events import (
    STATE_TYPE,
    Control,
    MediaChunk,
    MediaControl,
    MediaStart,
    MediaStop,
    Value,
    WakeDecision,
)
from .gate import Gate
from .info import build_info
from .microphone import ListenerLike, MakeListener, Microphone
from .session import Peer, SatelliteState, Session
from .speaker import Speaker, Stream
from .state_push import StatePush
from .wake_control import WakeControl
from .wake_modes import wake_mode

_LOGGER = logging.getLogger(__name__)
__all__ = ["ListenerLike", "Peer", "Satellite", "SatelliteState"]

DUCK_CHECK_S = 0.05  # how often the media's ducking is brought up to date
REPLY_WAIT_S = 20.0  # a pipeline that never answers stops ducking the media after this
STOP_WORD_TYPE = "jarvis-stop-word"  # to subscribed peers: the stop word stopped something


class Satellite:
    """One satellite: microphone + speaker, driven by one Wyoming connection at a time.

    Its parts: the `session` (who drives, protocol state), the `mic` (listener), the
    `speaker`, the wake `mode` (how commands start and end) with its `stream` (command audio
    to the driver), the `timers` board and the `gate`. This class routes each event to them.
    """

    def __init__(
        self, config: SatelliteConfig, make_listener: MakeListener, audio_out: AudioOut | None
    ) -> None:
        """`make_listener(callback)` builds the listener; `audio_out` None = no speaker."""
        self.config = config
        self.info: Info = build_info(config)
        self.gate = Gate.from_settings(config.server)
        self.session = Session()
        self.mic = Microphone(make_listener, muted=config.behaviour.muted)
        self.speaker = Speaker(
            audio_out,
            resolve_chimes(config.sounds),
            config.behaviour.timer_alarm_s,
            config.speaker.duck_db,
        )
        self.stream = CommandStream(self.session)
        self.mode = wake_mode(config, self.session, self.stream, self.mic, self.speaker)
        self.timers = TimerBoard(self.speaker.alarm.start)
        # Transcripts and replies are the user's words: INFO only when asked for.
        self._text_level = logging.INFO if config.behaviour.log_text else logging.DEBUG
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        """MQTT: told of each event (`wake`, `pipeline`, `transcript`, `reply`, …), on the loop."""
        self.stream.on_pipeline = self._pipeline_started
        self.wake = WakeControl(config, self.mic)
        self.stop_word = config.stop_word.enabled
        self.stop_spotter = StopWordSpotter(config.stop_word, self._stop_word_heard)
        self.push = StatePush(self.status)
        self._reply_due: float | None = None  # monotonic deadline of the awaited reply
        self._media_stopped = False  # stopped by the user: chunks still in flight are dropped
        self._ducker: asyncio.Task[None] | None = None
        # Ducking is decided on the loop and, at a wake word, on the listener's thread.
        self._duck_lock = threading.Lock()
        self._waking = False  # a wake word the loop has not handled yet
        self.mic.on_wake_now = self._duck_at_wake

    def _pipeline_started(self) -> None:
        self._emit("pipeline", {})
        if self.config.wake.local:
            self._reply_due = time.monotonic() + REPLY_WAIT_S

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for observer in self.observers:
            try:
                observer(kind, data)
            except Exception:
                _LOGGER.exception("Observer of %s failed", kind)

    @property
    def driver(self) -> Peer | None:
        """The connection driving the satellite."""
        return self.session.driver

    @property
    def listener(self) -> ListenerLike | None:
        """The listening chain, once started."""
        return self.mic.listener

    @property
    def muted(self) -> bool:
        """The microphone is muted on the device."""
        return self.mic.muted

    # --- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Build and start the listener (models load in an executor thread)."""
        await self.gate.load()
        await self.mic.start(self._heard)
        self.wake.started()
        if self.stop_spotter.configured and isinstance(self.mic.listener, Listener):
            self.stop_spotter.start()
            self.mic.listener.on_chunk = self.stop_spotter.segmenter.feed
            self.stop_spotter.segmenter.reference = self.mic.listener.reference
        if self.stop_word and not self.stop_spotter.configured:
            _LOGGER.warning("The stop word is on but [stop_word] stt_uri is not set: it is off")
        self._ducker = asyncio.get_running_loop().create_task(
            self._keep_ducking(), name="satellite ducking"
        )
        _LOGGER.info("Listening (wake word %s)", self.config.wake.word)

    async def stop(self) -> None:
        """Stop listening and playing; close the driving connection."""
        if self._ducker is not None:
            self._ducker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ducker
        await self.push.close()
        await self.stop_spotter.close()
        await self.mode.close()
        await self.speaker.alarm.stop()
        await self.mic.stop()
        await self.speaker.close()
        self.session.close()

    # --- connections ---------------------------------------------------------------------

    async def handle_event(self, peer: Peer, event_type: str, value: Value | None) -> None:
        """Handle one checked event (`events.parse`) from a connection allowed to send it."""
        if isinstance(value, Describe):
            await peer.send(self.info.event())
            if self.session.resumed_by(peer, value):
                await self._server_ready()
        elif isinstance(value, Ping):
            await peer.send(Pong(text=value.text).event())
            if self.session.resumed_by(peer, value):
                await self._server_ready()
        elif isinstance(value, Control):
            await self._control(peer, value)
        elif isinstance(value, WakeDecision):
            await self.mode.decided(value)
        elif value is None:
            _LOGGER.debug("Ignored event from %s: %s", peer.name, event_type)
        else:
            if peer is not self.session.driver:
                await self._take_over(peer)
            await self._from_driver(value)

    async def _take_over(self, peer: Peer) -> None:
        self.session.take_over(peer)
        self.speaker.drop()  # the old driver's reply must not delay the new one's
        await self.mode.end_stream(send_stop=False)
        self.session.reset()

    def connection_lost(self, peer: Peer) -> None:
        """A connection closed; if it was driving, go back to waiting for one."""
        self.push.forget(peer)
        self.mode.arbitration.peer_lost(peer)
        if not self.session.driver_lost(peer):
            return
        self.speaker.drop()
        self.speaker.media.stop()
        if self.session.streaming:
            self.mic.cancel_command()
        self.session.reset()

    # --- events from Home Assistant ------------------------------------------------------

    async def _from_driver(self, value: Value) -> None:
        if isinstance(value, MediaStart | MediaChunk | MediaStop | MediaControl):
            await self._media(value)
        elif isinstance(value, RunSatellite):
            await self._server_ready()
        elif isinstance(value, PauseSatellite):
            _LOGGER.info("Paused by the server")
            await self.mode.end_stream(send_stop=True)
            self.session.pause()
        elif isinstance(value, Detect | VoiceStarted | Transcribe):
            _LOGGER.debug("Server: %s", type(value).__name__)
        elif isinstance(value, Detection):
            _LOGGER.info("Server detected wake word %s", value.name)
            self._reply_due = time.monotonic() + REPLY_WAIT_S
            self.speaker.media.duck(True)
            await self.speaker.interrupt()
            self.speaker.chime("wake")
        elif isinstance(value, VoiceStopped):
            await self.mode.server_heard_end()
        elif isinstance(value, Transcript):
            _LOGGER.log(self._text_level, "Transcript: %s", value.text)
            self._emit("transcript", {"text": value.text})
            await self.mode.server_heard_end()
        elif isinstance(value, Synthesize):
            _LOGGER.log(self._text_level, "Reply: %s", value.text)
            self.session.remember_reply(value.text)
            self._emit("reply", {"text": value.text})
        elif isinstance(value, AudioStart):
            await self._begin_reply(value.rate, value.width, value.channels)
        elif isinstance(value, AudioChunk):
            await self._reply_chunk(value)
        elif isinstance(value, AudioStop):
            await self._end_reply()
        elif isinstance(value, Error):
            _LOGGER.warning("Server error %s: %s", value.code, value.text)
            self._emit("error", {"code": value.code, "text": value.text})
            if not (value.code or "").startswith("wake"):  # heard, not silence, for the user
                self.speaker.chime("error")
            self.session.forget_reply()
            self._reply_due = None
            await self.mode.server_error()
        elif self.timers.handle(value):
            if isinstance(value, TimerStarted):
                data = {"id": value.id, "name": value.name, "total_seconds": value.total_seconds}
                self._emit("timer_started", data)
            elif isinstance(value, TimerFinished):
                self._emit("timer_finished", {"id": value.id})
        elif isinstance(value, RunPipeline):
            await self.mode.triggered(value)
        else:
            _LOGGER.debug("Unexpected event from the server: %s", type(value).__name__)

    async def _media(self, value: MediaStart | MediaChunk | MediaStop | MediaControl) -> None:
        media = self.speaker.media
        error = None
        if isinstance(value, MediaStart):
            self._media_stopped = False
            error = media.start(value)
        elif self._media_stopped and isinstance(value, MediaChunk | MediaStop):
            _LOGGER.debug("Media stopped: %s dropped", type(value).__name__)
        elif isinstance(value, MediaChunk):
            error = media.add(value)
        elif isinstance(value, MediaStop):
            media.end()
        else:
            media.control(value.action)
        if error is not None:
            await self.session.send(error.event())

    async def _server_ready(self) -> None:
        self.session.run()
        await self.mode.server_ready()

    # --- listener events ------------------------------------------------------------------

    async def _heard(self, event: ListenEvent, at: float) -> None:
        if isinstance(event, CommandAudio | StreamAudio):
            if self.mode.keep(event.pcm):
                return  # a wake claim waits for the driver's decision
            if self.session.streaming and not self.mic.muted:
                await self.stream.send(event.pcm)
        elif isinstance(event, WakeDetected):
            self._emit("wake", {"wake_word": event.name, "score": round(float(event.score), 4)})
            try:
                await self.mode.wake_word(event, at)
            finally:
                self._waking = False
        elif isinstance(event, SpeechStopped):
            if not self.mode.command_ended():
                await self.mode.end_stream(send_stop=True, listener_done=True)
        elif isinstance(event, CommandTimeout):
            _LOGGER.info("Command ended: %s", event.reason.replace("_", " "))
            if not self.mode.command_ended():
                await self.mode.end_stream(send_stop=True, listener_done=True)

    # --- media ducking --------------------------------------------------------------------

    def _duck_at_wake(self, event: WakeDetected) -> None:
        """Duck the media at the detection, on the listener's thread.

        Not when the loop gets to the event: the speaker plays on meanwhile.
        """
        if self.session.running and not self.mic.muted:
            with self._duck_lock:
                self._waking = True
                self.speaker.media.duck(True)

    def wants_duck(self) -> bool:
        """Media is turned down: wake claim, command, awaited or playing reply, chime, alarm."""
        if self._reply_due is not None and time.monotonic() > self._reply_due:
            self._reply_due = None
        speaker = self.speaker
        return (
            self._waking
            or self.mode.busy
            or self._reply_due is not None
            or speaker.streaming
            or speaker.chiming > 0
            or speaker.alarm.ringing
        )

    def playing(self) -> bool:
        """Something the stop word can stop plays: a reply, announcement, media, the alarm."""
        speaker = self.speaker
        return speaker.replying or speaker.media.state == "playing" or speaker.alarm.ringing

    def _stop_word_listens(self) -> bool:
        return (
            self.stop_word and not self.mic.muted and not self.session.streaming and self.playing()
        )

    async def _keep_ducking(self) -> None:
        while True:
            await asyncio.sleep(DUCK_CHECK_S)
            self.stop_spotter.set_active(self._stop_word_listens())
            if self.speaker.media.state != "idle":
                with self._duck_lock:
                    self.speaker.media.duck(self.wants_duck())

    # --- replies -------------------------------------------------------------------------

    async def _begin_reply(self, rate: int, width: int, channels: int) -> None:
        error = await self.speaker.begin(
            rate, width, channels, owner=self.session.driver, on_finished=self._reply_finished
        )
        if error is not None:
            await self.session.send(error.event())

    async def _reply_chunk(self, chunk: AudioChunk) -> None:
        if not self.speaker.streaming and self.speaker.present:
            await self._begin_reply(chunk.rate, chunk.width, chunk.channels)
        error = self.speaker.add(chunk)
        if error is not None:
            await self.session.send(error.event())

    async def _end_reply(self) -> None:
        if self.speaker.present:
            self.speaker.end()
        else:
            await self.session.send(Played().event())  # no speaker: nothing to wait for

    async def _reply_finished(self, reply: Stream, current: bool) -> None:
        self._emit("reply_played", {"outcome": reply.outcome, "seconds": round(reply.seconds, 3)})
        if current:
            self._reply_due = None
        if reply.owner is not self.session.driver:
            return  # its driver was replaced or went away
        await self.session.send(Played().event())
        if current:
            await self.mode.reply_heard(played=reply.outcome == "played")

    # --- mute and volume -----------------------------------------------------------------

    async def set_muted(self, muted: bool) -> None:
        """Mute: no audio leaves the device and the wake word is not listened for."""
        self.mic.muted = muted
        _LOGGER.info("Microphone %s", "muted" if muted else "on")
        if muted:
            await self.mode.end_stream(send_stop=True)  # remote wake word too, as muted now
        else:
            await self.mode.unmuted()

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
            "state": str(self.session.state),
            "connected": self.session.driver is not None,
            "muted": self.muted,
            "volume": self.volume,
            "timers": {t.id: round(t.remaining(), 1) for t in self.timers.timers.values()},
            "alarm": self.speaker.alarm.ringing,
            "wake_to_audio_ms": self.stream.wake_to_audio_ms,
            "last_wake": self.mic.last_wake,
            "last_speech_stopped_s": self.mic.last_speech_stopped_s,
            "listener": self.mic.metrics(),
            "speaker": self.speaker.status(),
            "access": self.gate.status(),
            "wake_words": self.mic.wake_words,
            "pipelines": self.stream.pipelines,
            "chunks_sent": self.stream.chunks_sent,
            "replies_played": self.speaker.replies_played,
            "bad_events": self.gate.bad_events,
            "refused": self.gate.refused,
            "replies_refused": self.speaker.replies_refused,
            "wake_word": self.wake.word,
            "wake_words_available": list(self.wake.available),
            "wake_sensitivity": self.wake.sensitivity,
            "follow_up": self.config.behaviour.follow_up,
            "stop_word": self.stop_word,
            "stop_word_checks": self.stop_spotter.status(),
            "arbitration": self.mode.arbitration.enabled,
            "claims": dict(self.mode.arbitration.counts),
            "media": self.speaker.media.status(),
            "chain_ms_per_frame": round(self.mic.metrics().get("cpu_ms", 0.0), 4),
        }

    async def _control(self, peer: Peer, control: Control) -> None:
        """The control event (`jarvis-satellite control`, the Jarvis integration).

        Everything is checked before anything changes; the answer is the full state.
        """
        if control.forget_driver:
            self.gate.check_forget_driver()
        self.wake.check(control.wake_word)
        if control.muted is not None:
            await self.set_muted(control.muted)
        if control.volume is not None:
            self.set_volume(control.volume)
        if control.stop_alarm:
            await self.speaker.alarm.stop()
        if control.stop:
            _LOGGER.info("Stop: reply, announcement, media and alarm")
            await self.stop_playing()
        if control.wake_sensitivity is not None:
            self.wake.set_sensitivity(control.wake_sensitivity)
        if control.wake_word is not None:
            await self.wake.set_word(control.wake_word)
            self.info = build_info(self.config, self.wake.word)
        if control.follow_up is not None:
            self.config.behaviour.follow_up = control.follow_up  # read by the wake mode
        if control.stop_word is not None:
            if control.stop_word and not self.stop_spotter.configured:
                _LOGGER.warning("Stop word switched on, but [stop_word] stt_uri is not set")
            self.stop_word = control.stop_word
            self.stop_spotter.set_active(self._stop_word_listens())
        if control.arbitration is not None:
            arbitration = self.mode.arbitration
            if control.arbitration:
                arbitration.peer = peer
            elif arbitration.peer is peer:
                arbitration.peer = None
        if control.forget_driver:
            await self.gate.forget_driver()
        if control.subscribe is not None:
            self.push.subscribe(peer, control.subscribe)
        await peer.send(Event(type=STATE_TYPE, data=self.status()))

    # --- stop ---------------------------------------------------------------------------

    async def stop_playing(self) -> None:
        """Stop the reply or announcement, the media and the alarm, at once."""
        await self.speaker.interrupt()
        if self.speaker.media.state != "idle":
            self.speaker.media.stop()
            self._media_stopped = True  # until the driver starts another stream
        self.stop_spotter.set_active(self._stop_word_listens())

    async def _stop_word_heard(self, word: str, text: str, delay_s: float) -> bool:
        """The stop word was said: stop what plays, tell MQTT and the subscribed peers."""
        if not (self.stop_word and self.playing()):
            return False  # it ended (or was switched off) while the word was being checked
        _LOGGER.info("Stop word: reply, announcement, media and alarm stopped")
        await self.stop_playing()
        data = {"word": word, "decode_ms": round(delay_s * 1000, 1)}
        self._emit("stop_word", data)
        _LOGGER.log(self._text_level, "Stop word transcript: %s", text)
        event = Event(type=STOP_WORD_TYPE, data=data)
        for peer in list(self.push.peers):
            await peer.send(event)
        return True
