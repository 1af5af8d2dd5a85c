"""The microphone: the listening chain on its own thread, its events handed to the asyncio loop.

`satellite.listening.Listener` runs capture, DSP, wake word and VAD on a thread and calls back
there. `Microphone` builds it (models load in an executor thread), queues each event onto the
loop stamped with the moment it was emitted (`time.perf_counter()`, for the wake-to-audio
delay), and hands them in order to the satellite's handler. It also keeps what was heard, for
the status: wake words counted, and the last wake word and end of speech on the audio clock
(seconds of microphone audio). Muting it stops audio leaving the chain and the wake word being
listened for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import contextlib
import logging
import time
from typing import Any, Protocol

from satellite.listening import ListenEvent, SpeechStarted, SpeechStopped, WakeDetected

_LOGGER = logging.getLogger(__name__)


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
    def wake_threshold(self) -> float | None:
        """Detection threshold of the wake word (settable; None in remote wake mode)."""

    @wake_threshold.setter
    def wake_threshold(self, value: float) -> None: ...

    def set_wake_word(self, detector: Any) -> None:
        """Listen for another (loaded) wake word model from the next frame."""

    @property
    def finished(self) -> bool:
        """The source ended."""

    def metrics(self) -> dict[str, float]:
        """Per-stage cost per 10 ms frame (ms) and counters."""


MakeListener = Callable[[Callable[[ListenEvent], None]], ListenerLike]
"""Builds the listener around its (thread-side) event callback."""
Heard = Callable[[ListenEvent, float], Awaitable[None]]
"""Handles one listener event on the loop, with the `perf_counter()` of its emission."""


class Microphone:
    """The listener, bridged from its thread to the loop."""

    def __init__(self, make_listener: MakeListener, *, muted: bool = False) -> None:
        """Nothing runs until `start()`."""
        self._make_listener = make_listener
        self._muted = muted
        self.listener: ListenerLike | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[ListenEvent, float]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.wake_words = 0
        self.last_wake: dict[str, Any] | None = None  # name, score, level_dbfs, at, at_s
        self.on_wake: Callable[[WakeDetected], None] | None = None
        """Metrics: told of each wake word heard, on the loop."""
        self.on_wake_now: Callable[[WakeDetected], None] | None = None
        """Told of each wake word on the listener's thread, at the detection, before the loop
        hears of it (the media ducks from there); must not block."""
        self.last_speech_stopped_s: float | None = None

    @property
    def muted(self) -> bool:
        """No audio leaves the chain and the wake word is not listened for."""
        return self._muted

    @muted.setter
    def muted(self, muted: bool) -> None:
        self._muted = muted
        if self.listener is not None:
            self.listener.muted = muted

    @property
    def ready(self) -> bool:
        """The listener is built and capturing."""
        return self.listener is not None

    @property
    def listening(self) -> bool:
        """Capturing now: started, and its source has not ended."""
        return self.listener is not None and not self.listener.finished

    async def start(self, heard: Heard) -> None:
        """Build and start the listener; `heard` gets its events one at a time, in order."""
        self._loop = loop = asyncio.get_running_loop()
        listener = await loop.run_in_executor(None, self._make_listener, self._from_thread)
        listener.muted = self._muted
        await loop.run_in_executor(None, listener.start)
        self.listener = listener
        self._task = loop.create_task(self._dispatch(heard), name="satellite listen")

    async def stop(self) -> None:
        """Stop handing events over, then stop the listener (joins its thread)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.listener is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.listener.stop)

    def start_command(self, *, preroll: bool = False) -> None:
        """Stream a command without a wake word (follow-up, remote trigger)."""
        if self.listener is not None:
            self.listener.start_command(preroll=preroll)

    def cancel_command(self) -> None:
        """Abandon the command being streamed."""
        if self.listener is not None:
            self.listener.cancel_command()

    def metrics(self) -> dict[str, float]:
        """The chain's cost per frame and counters (empty before `start()`)."""
        return self.listener.metrics() if self.listener is not None else {}

    def _from_thread(self, event: ListenEvent) -> None:
        at = time.perf_counter()
        if isinstance(event, WakeDetected) and self.on_wake_now is not None:
            try:
                self.on_wake_now(event)
            except Exception:
                _LOGGER.exception("Wake word hook failed")
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closing at shutdown
                loop.call_soon_threadsafe(self._queue.put_nowait, (event, at))

    async def _dispatch(self, heard: Heard) -> None:
        while True:
            event, at = await self._queue.get()
            try:
                self._note(event)
                await heard(event, at)
            except Exception:
                _LOGGER.exception("Failed to handle %s", type(event).__name__)

    def _note(self, event: ListenEvent) -> None:
        if isinstance(event, WakeDetected):
            self.wake_words += 1
            _LOGGER.info("Wake word %s (score %.2f) at %.2f s", event.name, event.score, event.t)
            self.last_wake = {
                "name": event.name,
                "score": round(event.score, 3),
                "level_dbfs": round(event.level_dbfs, 1),
                "at": round(time.time(), 3),  # epoch seconds
                "at_s": round(event.t, 3),  # on the audio clock
            }
            if self.on_wake is not None:
                self.on_wake(event)
        elif isinstance(event, SpeechStarted):
            _LOGGER.debug("Speech started at %.2f s", event.t)
        elif isinstance(event, SpeechStopped):
            _LOGGER.debug("Speech stopped at %.2f s", event.t)
            self.last_speech_stopped_s = round(event.t, 3)
