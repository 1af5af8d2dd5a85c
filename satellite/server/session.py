"""The session: which connection drives the satellite, and where the protocol stands with it.

One connection drives at a time: the one that sent a driving event last (`take_over`); the one
it replaces is closed. The state, seen from the protocol:

- PAUSED: no driver, or the driver has not sent `run-satellite` yet, or it sent
  `pause-satellite` (Home Assistant's mute switch);
- IDLE: waiting for the wake word;
- STREAMING: sending a command (or, remote wake word, everything) to the driver.

Home Assistant sends nothing when its mute switch is turned back off before its loop noticed
the mute: it goes on pinging, or restarts its loop with `describe`, on the same connection;
`resumed_by()` reads those as the end of the pause.

The session also keeps the text of the reply being spoken (`synthesize`): Home Assistant's
wyoming integration has no event for a continued conversation, so the satellite applies HA's
own rule to that text (a reply ending in a question mark continues it) once it was heard.
"""

from __future__ import annotations

from collections.abc import Callable
import enum
import logging
from typing import Protocol

from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping

_LOGGER = logging.getLogger(__name__)

QUESTION_ENDINGS = ("?", ";", "？")  # HA's own continue-conversation rule


class SatelliteState(enum.StrEnum):
    """What the satellite is doing, seen from the protocol."""

    PAUSED = "paused"  # no Home Assistant connection driving it, or paused by HA
    IDLE = "idle"  # waiting for the wake word
    STREAMING = "streaming"  # sending a command (or everything, remote wake) to HA


class Peer(Protocol):
    """A connected client (see `connection.SatelliteConnection`)."""

    name: str

    async def send(self, event: Event) -> bool:
        """Write an event; False if the connection is gone."""

    def close(self) -> None:
        """Close the connection."""


class Session:
    """The driving connection, the protocol state and the reply text for follow-ups."""

    def __init__(self) -> None:
        """No driver yet: paused."""
        self.driver: Peer | None = None
        self.state = SatelliteState.PAUSED
        self._paused_by_server = False
        self._pings_since_pause = 0
        self._reply_text: str | None = None
        self.on_state: Callable[[SatelliteState], None] | None = None
        """MQTT: told of each state change, on the loop."""

    @property
    def running(self) -> bool:
        """Home Assistant is connected and has sent `run-satellite`."""
        return self.driver is not None and self.state is not SatelliteState.PAUSED

    @property
    def streaming(self) -> bool:
        """A command (or, remote wake word, everything) is being sent."""
        return self.state is SatelliteState.STREAMING

    def set_state(self, state: SatelliteState) -> None:
        """Move to `state` (logged at DEBUG)."""
        if state is not self.state:
            _LOGGER.debug("State %s -> %s", self.state, state)
            self.state = state
            if self.on_state is not None:
                self.on_state(state)

    async def send(self, event: Event) -> bool:
        """Send to the driver; False if there is none or it is gone."""
        driver = self.driver
        if driver is None:
            return False
        return await driver.send(event)

    # --- who drives ------------------------------------------------------------------------

    def take_over(self, peer: Peer) -> None:
        """`peer` drives from now on; the connection it replaces is closed."""
        old, self.driver = self.driver, peer
        if old is not None:
            _LOGGER.info("%s replaces %s as the driving connection", peer.name, old.name)
            old.close()
        else:
            _LOGGER.info("%s is driving the satellite", peer.name)

    def driver_lost(self, peer: Peer) -> bool:
        """`peer` disconnected; True if it was driving (the session then has no driver)."""
        if peer is not self.driver:
            return False
        _LOGGER.info("%s disconnected; waiting for Home Assistant", peer.name)
        self.driver = None
        self._paused_by_server = False
        return True

    def close(self) -> None:
        """Shutting down: close the driving connection."""
        driver, self.driver = self.driver, None
        if driver is not None:
            driver.close()

    def reset(self) -> None:
        """Paused, waiting for `run-satellite`, no reply text (a new or no driver)."""
        self.set_state(SatelliteState.PAUSED)
        self._paused_by_server = False
        self._reply_text = None

    # --- run and pause ---------------------------------------------------------------------

    def run(self) -> None:
        """`run-satellite` (or a resume): pipelines may start."""
        _LOGGER.info("Server is ready (run-satellite)")
        self._paused_by_server = False
        if self.state is SatelliteState.PAUSED:
            self.set_state(SatelliteState.IDLE)

    def pause(self) -> None:
        """`pause-satellite`: nothing is streamed until the server resumes."""
        self.set_state(SatelliteState.PAUSED)
        self._paused_by_server = True
        self._pings_since_pause = 0

    def resumed_by(self, peer: Peer, value: Describe | Ping) -> bool:
        """Whether this `describe`/`ping` from the driver ends a server pause."""
        if peer is not self.driver or not self._paused_by_server:
            return False
        if isinstance(value, Describe):
            # HA's mute switch sends pause-satellite; when it is switched back off
            # quickly, HA goes on with its loop on the same connection (a new loop
            # starts with `describe`) and sends no new run-satellite.
            _LOGGER.info("Resumed: the server restarted its loop after pause")
            return True
        self._pings_since_pause += 1
        if self._pings_since_pause < 2:
            return False
        # A muted HA stops pinging (at most one ping was already on its way); a second
        # one means it was unmuted and kept its loop.
        _LOGGER.info("Resumed: the server kept pinging after pause")
        return True

    # --- the reply text (follow-ups) -------------------------------------------------------

    def remember_reply(self, text: str) -> None:
        """The text of the reply about to be spoken (`synthesize`)."""
        self._reply_text = text

    def forget_reply(self) -> None:
        """A new command, or an error: the last reply does not continue the conversation."""
        self._reply_text = None

    def reply_asked_question(self) -> bool:
        """Whether the reply just heard asks a question (and forget its text)."""
        text, self._reply_text = self._reply_text, None
        return text is not None and text.strip().endswith(QUESTION_ENDINGS)
