"""How commands start and end: one class per wake mode (`[wake] local`).

- `LocalWake` (the default): the wake word is heard on the device. Each command is its own
  pipeline (asr → tts): `detection`, `run-pipeline`, `audio-start`, the command as
  `audio-chunk`s (the pre-roll first), and `audio-stop` at the end of speech (own VAD) or when
  the server says `voice-stopped` / `transcript` / `error`. The server's own `run-pipeline`
  (remote trigger, `supports_trigger`) and a reply that asks a question (follow-up) open the
  microphone without the wake word. With an arbitrating driver (`arbitration`), a wake word is
  first claimed (`jarvis-wake-claim`) and its command audio kept until the driver's decision:
  run → the path above with the kept audio; lose → dropped silently (no chime, no events).
- `RemoteWake`: Home Assistant's wake word engine listens. Once the server is ready the
  satellite runs one pipeline (wake → tts, restart_on_end) and streams all audio; HA restarts
  it after each command, and the satellite asks again after an `error` (HA does not).

Each mode streams through the `CommandStream` and stops it with `end_stream()`. The satellite
calls the hooks below for what the two modes handle differently; each mode spells out all of
them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
import contextlib
import logging
from typing import Any

from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.wake import Detection

from satellite.config import SatelliteConfig
from satellite.listening import WakeDetected

from .arbitration import Arbitration, Claim
from .command_stream import CommandStream
from .events import WakeDecision
from .microphone import Microphone
from .session import SatelliteState, Session
from .speaker import Speaker

_LOGGER = logging.getLogger(__name__)

REMOTE_RESTART_DELAY_S = 2.0


class WakeMode(ABC):
    """How this satellite starts and ends commands."""

    def __init__(
        self,
        config: SatelliteConfig,
        session: Session,
        stream: CommandStream,
        mic: Microphone,
        speaker: Speaker,
    ) -> None:
        """The parts a mode drives."""
        self.config = config
        self.session = session
        self.stream = stream
        self.mic = mic
        self.speaker = speaker
        self.arbitration = Arbitration(self._claim_decided)

    @property
    def busy(self) -> bool:
        """A command is claimed or streaming (the media is ducked)."""
        return False

    def keep(self, pcm: bytes) -> bool:
        """Command audio kept for a wake claim (True: it is kept, not streamed now)."""
        return self.arbitration.keep(pcm)

    def command_ended(self) -> bool:
        """The listener ended the command while a claim waits (True: noted for later)."""
        return self.arbitration.command_ended()

    async def decided(self, decision: WakeDecision) -> None:
        """The arbitrating driver's decision on a wake claim."""
        await self.arbitration.decided(decision)

    async def _claim_decided(self, claim: Claim, run: bool) -> None:
        """Only local wake words are claimed."""

    @abstractmethod
    async def server_ready(self) -> None:
        """The server sent `run-satellite` (or resumed after a pause)."""

    @abstractmethod
    async def unmuted(self) -> None:
        """The microphone was unmuted on the device."""

    @abstractmethod
    async def server_heard_end(self) -> None:
        """The server's pipeline heard the end of the command (`voice-stopped`, `transcript`)."""

    @abstractmethod
    async def server_error(self) -> None:
        """The server reported an `error` (the pipeline ended)."""

    @abstractmethod
    async def wake_word(self, event: WakeDetected, at: float) -> None:
        """The listener heard the wake word (emitted at `perf_counter()` `at`)."""

    @abstractmethod
    async def triggered(self, run: RunPipeline) -> None:
        """The server sent `run-pipeline`: listen now, as if the wake word was heard."""

    @abstractmethod
    async def reply_heard(self, *, played: bool) -> None:
        """The driver's reply has been heard (`played` False: stopped or refused)."""

    async def end_stream(self, *, send_stop: bool, listener_done: bool = False) -> None:
        """Stop sending command audio (`listener_done`: the listener ended the command)."""
        if not self.session.streaming:
            return
        if not listener_done:
            self.mic.cancel_command()
        await self.stream.close(send_stop=send_stop)
        self.speaker.chime("done")

    async def close(self) -> None:
        """Shutting down: cancel anything scheduled."""
        self.arbitration.close()


class LocalWake(WakeMode):
    """The wake word is heard on the device: one pipeline (asr → …) per command."""

    @property
    def busy(self) -> bool:
        """A wake word is claimed, or a command streams."""
        return self.arbitration.pending or self.session.streaming

    async def end_stream(self, *, send_stop: bool, listener_done: bool = False) -> None:
        """Stop sending command audio; a claim waiting for its decision is dropped."""
        if self.arbitration.drop() is not None:
            self._ignore_wake(cancel=not listener_done)
        await super().end_stream(send_stop=send_stop, listener_done=listener_done)

    async def server_ready(self) -> None:
        """Nothing to start: a command streams when the wake word is heard."""

    async def unmuted(self) -> None:
        """Nothing to start: the wake word is listened for again."""

    async def server_heard_end(self) -> None:
        """The command is over: stop streaming it."""
        await self.end_stream(send_stop=True)

    async def server_error(self) -> None:
        """The pipeline failed: stop streaming the command."""
        await self.end_stream(send_stop=True)

    async def wake_word(self, event: WakeDetected, at: float) -> None:
        """Stream the command that follows, unless paused, muted or busy."""
        self.stream.wake_heard(at)
        if not self.session.running or self.mic.muted:
            why = "Paused" if self.session.driver is not None else "Not connected to Home Assistant"
            _LOGGER.info("%s: wake word ignored", why)
            self._ignore_wake()
            return
        if self.session.streaming or self.arbitration.claim is not None:
            return  # already streaming (or claiming) a command
        if self.speaker.replying and not self.config.behaviour.barge_in:
            # Without barge-in, a wake word heard during a reply is most likely the
            # reply itself (no echo cancellation): ignore it.
            _LOGGER.info("Replying: wake word ignored")
            self._ignore_wake()
            return
        if self.arbitration.enabled:
            await self.arbitration.open(event)  # the driver decides which room answers
            return
        await self._answer(event.name)

    async def _answer(self, wake_word: str) -> None:
        await self.speaker.interrupt()
        self.session.forget_reply()
        self.speaker.chime("wake")
        await self._start_command(wake_word)

    async def _claim_decided(self, claim: Claim, run: bool) -> None:
        """Run the pipeline with the audio kept meanwhile, or drop it silently."""
        if not run or not self.session.running or self.mic.muted:
            claim.audio.clear()
            self._ignore_wake(cancel=not claim.ended)
            return
        await self._answer(claim.name)
        while claim.audio:  # audio heard while flushing is appended: the loop sends it too
            await self.stream.send(claim.audio.pop(0))
        if claim.ended:
            await self.end_stream(send_stop=True, listener_done=True)

    def _ignore_wake(self, *, cancel: bool = True) -> None:
        self.stream.wake_ignored()
        if cancel:
            self.mic.cancel_command()

    async def triggered(self, run: RunPipeline) -> None:
        """Remote trigger (`supports_trigger`): stream a command now, without the wake word."""
        if not self.session.running or self.mic.muted or not self.mic.ready:
            _LOGGER.info("Trigger ignored (not running, muted or remote wake word)")
            return
        if self.session.streaming or run.start_stage != PipelineStage.ASR:
            _LOGGER.info("Trigger ignored (streaming already, or not from asr)")
            return
        _LOGGER.info("Triggered by the server")
        await self.speaker.interrupt()
        self.session.forget_reply()
        await self._listen_now(run.end_stage)

    async def reply_heard(self, *, played: bool) -> None:
        """Follow-up: a reply that asked a question opens the microphone again."""
        if (
            self.session.reply_asked_question()
            and self.config.behaviour.follow_up
            and self.session.running
            and not self.mic.muted
            and self.session.state is SatelliteState.IDLE
            and played
            and self.mic.ready
        ):
            _LOGGER.info("The reply asks a question: listening again")
            await self._listen_now()

    async def _listen_now(self, end_stage: PipelineStage = PipelineStage.TTS) -> None:
        """Open the microphone without the wake word (no pre-roll) and stream the command."""
        self.speaker.chime("wake")
        self.mic.start_command(preroll=False)
        await self._start_command(None, end_stage)

    async def _start_command(
        self, wake_word: str | None, end_stage: PipelineStage = PipelineStage.TTS
    ) -> None:
        detection = Detection(name=wake_word, timestamp=0) if wake_word is not None else None
        run = RunPipeline(
            start_stage=PipelineStage.ASR, end_stage=end_stage, wake_word_name=wake_word
        )
        await self.stream.open(run, detection)


class RemoteWake(WakeMode):
    """Home Assistant listens for the wake word: everything streams to one restarting pipeline."""

    def __init__(
        self,
        config: SatelliteConfig,
        session: Session,
        stream: CommandStream,
        mic: Microphone,
        speaker: Speaker,
    ) -> None:
        """The parts a mode drives."""
        super().__init__(config, session, stream, mic, speaker)
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def server_ready(self) -> None:
        """Start streaming everything."""
        if self.session.state is SatelliteState.IDLE:
            await self._start_pipeline()

    async def unmuted(self) -> None:
        """Stream everything again."""
        if self.session.running and self.session.state is SatelliteState.IDLE:
            await self._start_pipeline()

    async def server_heard_end(self) -> None:
        """Nothing: the pipeline goes back to listening for the wake word on the same audio."""

    async def server_error(self) -> None:
        """The pipeline ended: ask for a new one soon (HA does not restart it after an error)."""
        await self.end_stream(send_stop=True)
        if not self.session.running:
            return
        if self._retry is not None:
            self._retry.cancel()
        self._retry = asyncio.get_running_loop().call_later(REMOTE_RESTART_DELAY_S, self._restart)

    def _restart(self) -> None:
        self._retry = None
        if self.session.running and not self.mic.muted:
            task = asyncio.get_running_loop().create_task(
                self._start_pipeline(), name="satellite remote restart"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def wake_word(self, event: WakeDetected, at: float) -> None:
        """Not heard here: the listener does not listen for it in this mode."""
        _LOGGER.debug("Wake word %s ignored: Home Assistant listens for it", event.name)

    async def triggered(self, run: RunPipeline) -> None:
        """Ignored: everything streams already."""
        _LOGGER.info("Trigger ignored (not running, muted or remote wake word)")

    async def reply_heard(self, *, played: bool) -> None:
        """Nothing: the pipeline restarts on its own (no follow-up rule here)."""
        self.session.forget_reply()

    async def end_stream(self, *, send_stop: bool, listener_done: bool = False) -> None:
        """Stop streaming only when muted or paused: HA's wake word engine listens on."""
        if self.session.running and not self.mic.muted:
            return
        await super().end_stream(send_stop=send_stop, listener_done=listener_done)

    async def _start_pipeline(self) -> None:
        if self.mic.muted or self.session.driver is None:
            return
        run = RunPipeline(
            start_stage=PipelineStage.WAKE,
            end_stage=PipelineStage.TTS,
            restart_on_end=True,
            wake_word_names=[self.config.wake.word],
        )
        await self.stream.open(run)

    async def close(self) -> None:
        """Cancel a pending restart."""
        if self._retry is not None:
            self._retry.cancel()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def wake_mode(
    config: SatelliteConfig,
    session: Session,
    stream: CommandStream,
    mic: Microphone,
    speaker: Speaker,
) -> WakeMode:
    """The mode `[wake] local` chooses."""
    mode = LocalWake if config.wake.local else RemoteWake
    return mode(config, session, stream, mic, speaker)
