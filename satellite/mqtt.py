"""The satellite on an MQTT broker (`[mqtt]`, off unless `host` is set).

Topics, under `<topic_prefix>/<id>/` (`jarvis/kitchen/` by default for a satellite named
"Kitchen"):

| topic | retained | payload |
|---|---|---|
| `availability` | yes | `online`; `offline` as the last will and on a clean stop |
| `state` | yes | JSON: `state` (paused/idle/streaming), `speaking`, `alarm`, `muted`, `volume`, `connected`, `timers` |
| `event/<kind>` | no | JSON, `kind` one of `wake` (`wake_word`, `score`), `pipeline`, `transcript` (`text`), `reply` (`text`), `reply_played` (`outcome`, `seconds`), `timer_started` (`id`, `name`, `total_seconds`), `timer_finished` (`id`), `error` (`code`, `text`) |
| `command/mute` | – | `ON`/`OFF` (or `true`/`false`, or JSON `{"value": true, "id": "…"}`) |
| `command/volume` | – | 0.0–1.0 (or JSON `{"value": 0.5, "id": "…"}`) |
| `command/stop` | – | anything: stops the reply playing and the timer alarm |
| `command/listen` | – | anything: starts a conversation (streams a command now, no wake word) |
| `command/announce` | – | the text to speak (or JSON `{"text": "…", "id": "…"}`): spoken by the `[mqtt] announce_tts_uri` TTS server, played like a reply (`satellite.announce`) |
| `event/announce_played` | no | JSON `{"outcome", "seconds"}`: an announcement heard (`played`) or `stopped` |
| `ack` | no | JSON `{"command", "id", "ok", "error"}`, one per command received (`announce`: once its speech is queued, with `seconds`) |

Commands are subscribed at QoS 1 on a persistent session (fixed client id
`jarvis-satellite-<id>`, clean session off): a command sent while the satellite is offline is
delivered when it reconnects. A command with an `id` already seen (the last 100) is
acknowledged as a duplicate and not applied again.

State is published when it changes (at once for the protocol state; the rest is checked every
0.2 s on the loop: a dict comparison) and again after every (re)connection. With `discovery = true` the Home Assistant MQTT discovery
configs are published retained too (`satellite.mqtt_discovery`).
"""

from __future__ import annotations

import asyncio
from collections import deque
import contextlib
import json
import logging
import re
from typing import Any

from wyoming.pipeline import PipelineStage, RunPipeline

from satellite.announce import AnnounceError, Announcer
from satellite.config import MqttSettings, SatelliteConfig
from satellite.server.satellite import Satellite
from wyoming_wire.mqtt import MqttLink, MqttTarget

_LOGGER = logging.getLogger(__name__)

STATE_CHECK_S = 0.2
COMMANDS = ("mute", "volume", "stop", "listen", "announce")
_SEEN_IDS = 100
MAX_PENDING_ANNOUNCEMENTS = 3


def satellite_id(config: SatelliteConfig) -> str:
    """`[mqtt] id`, else the name in lower case with anything but [a-z0-9_] as `_`."""
    if config.mqtt.id:
        return config.mqtt.id
    return re.sub(r"[^a-z0-9_]+", "_", config.name.lower()).strip("_") or "satellite"


def base_topic(config: SatelliteConfig) -> str:
    """`<topic_prefix>/<id>`."""
    return f"{config.mqtt.topic_prefix.rstrip('/')}/{satellite_id(config)}"


class CommandError(ValueError):
    """A command payload the satellite cannot use."""


def _parse(payload: bytes) -> tuple[Any, str | None]:
    """(value, id) from a plain or JSON payload."""
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    if isinstance(data, dict):
        command_id = data.get("id")
        return data.get("value"), str(command_id) if command_id is not None else None
    return data, None


def _parse_text(payload: bytes) -> tuple[Any, str | None]:
    """(text, id) of an announcement: plain text, or JSON `{"text": …, "id": …}`."""
    raw = payload.decode("utf-8", errors="replace")
    try:
        data = json.loads(raw)
    except ValueError:
        return raw, None
    if isinstance(data, dict):
        command_id = data.get("id")
        text = data.get("text", data.get("value"))
        return text, str(command_id) if command_id is not None else None
    return data if isinstance(data, str) else raw, None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("on", "true", "1", "yes"):
        return True
    if isinstance(value, str) and value.lower() in ("off", "false", "0", "no"):
        return False
    raise CommandError(f"expected ON or OFF, got {value!r}")


def _volume(value: Any) -> float:
    try:
        volume = float(value)
    except (TypeError, ValueError):
        raise CommandError(f"expected a volume from 0.0 to 1.0, got {value!r}") from None
    if not 0.0 <= volume <= 1.0:
        raise CommandError(f"expected a volume from 0.0 to 1.0, got {value!r}")
    return volume


class SatelliteMqtt:
    """Publishes one satellite's availability, state and events; applies its commands."""

    def __init__(self, satellite: Satellite, config: SatelliteConfig) -> None:
        """Watch `satellite`; nothing connects until `run()`."""
        self.satellite = satellite
        self.config = config
        self.settings: MqttSettings = config.mqtt
        self.id = satellite_id(config)
        self.base = base_topic(config)
        self.link = MqttLink(
            MqttTarget(
                self.settings.host,
                self.settings.port,
                self.settings.username or None,
                self.settings.password or None,
                self.settings.tls,
            ),
            client_id=f"jarvis-satellite-{self.id}",
            availability_topic=f"{self.base}/availability",
            subscriptions=[f"{self.base}/command/{name}" for name in COMMANDS],
            on_connected=self._connected,
            on_message=self._message,
        )
        self._last_state: dict[str, Any] | None = None
        self._seen: deque[str] = deque(maxlen=_SEEN_IDS)
        self.announcer = Announcer(
            satellite.speaker, self.settings, log_text=config.behaviour.log_text
        )
        self._announcing: set[asyncio.Task[None]] = set()
        satellite.observers.append(self._event)
        satellite.session.on_state = lambda _state: self._check_state()

    def state(self) -> dict[str, Any]:
        """The retained state document."""
        sat = self.satellite
        return {
            "state": str(sat.session.state),
            "speaking": sat.speaker.replying,
            "alarm": sat.speaker.alarm.ringing,
            "muted": sat.muted,
            "volume": round(sat.volume, 3),
            "connected": sat.driver is not None,
            "timers": len(sat.timers.timers),
        }

    async def run(self) -> None:
        """Keep the link up and the state published; until cancelled."""
        loop = asyncio.get_running_loop()
        link = loop.create_task(self.link.run(), name="satellite mqtt")
        try:
            while True:
                await asyncio.sleep(STATE_CHECK_S)
                self._check_state()
        finally:
            for task in [*self._announcing, link]:
                task.cancel()
            for task in [*self._announcing, link]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _check_state(self) -> None:
        state = self.state()
        if state != self._last_state and self.link.connected:
            self._publish_state(state)

    def _publish_state(self, state: dict[str, Any]) -> None:
        self._last_state = state
        self.link.publish(f"{self.base}/state", state, retain=True)

    def _connected(self) -> None:
        self._publish_state(self.state())
        if self.settings.discovery:
            from satellite.mqtt_discovery import discovery_configs

            for topic, payload in discovery_configs(self.config, self.base).items():
                self.link.publish(topic, payload, retain=True)

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        self.link.publish(f"{self.base}/event/{kind}", data)

    async def _message(self, topic: str, payload: bytes) -> None:
        name = topic.rsplit("/", 1)[-1]
        value, command_id = _parse_text(payload) if name == "announce" else _parse(payload)
        ack: dict[str, Any] = {"command": name, "id": command_id, "ok": True, "error": None}
        if command_id is not None and command_id in self._seen:
            ack["duplicate"] = True
        else:
            if command_id is not None:
                self._seen.append(command_id)
            try:
                if name == "announce":
                    self._start_announcement(value, ack)
                    return  # acknowledged once its speech is queued (or has failed)
                await self._apply(name, value)
            except CommandError as err:
                self._refused(ack, err)
        self.link.publish(f"{self.base}/ack", ack)
        self._check_state()

    def _refused(self, ack: dict[str, Any], err: Exception) -> None:
        ack.update(ok=False, error=str(err))
        _LOGGER.warning("MQTT command %s refused: %s", ack["command"], err)

    # --- announcements ---------------------------------------------------------------------

    def _start_announcement(self, value: Any, ack: dict[str, Any]) -> None:
        """Check at once, synthesize and play in the background (the link keeps reading)."""
        if not isinstance(value, str):
            raise CommandError('expected the text, or {"text": "…"}')
        try:
            text = self.announcer.check(value)
        except AnnounceError as err:
            raise CommandError(str(err)) from None
        if len(self._announcing) >= MAX_PENDING_ANNOUNCEMENTS:
            raise CommandError(
                f"{MAX_PENDING_ANNOUNCEMENTS} announcements are being prepared already"
            )
        task = asyncio.get_running_loop().create_task(
            self._announce(text, ack), name="mqtt announce"
        )
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)

    async def _announce(self, text: str, ack: dict[str, Any]) -> None:
        _LOGGER.info("MQTT command announce")
        try:
            ack["seconds"] = round(await self.announcer.announce(text, self._announced), 3)
        except AnnounceError as err:
            self._refused(ack, err)
        except Exception:  # a bug must not lose the acknowledgement
            _LOGGER.exception("Announcement failed")
            ack.update(ok=False, error="internal error (see the satellite's log)")
        self.link.publish(f"{self.base}/ack", ack)
        self._check_state()

    def _announced(self, outcome: str, seconds: float) -> None:
        data = {"outcome": outcome, "seconds": round(seconds, 3)}
        self.link.publish(f"{self.base}/event/announce_played", data)

    async def _apply(self, name: str, value: Any) -> None:
        sat = self.satellite
        _LOGGER.info("MQTT command %s", name)
        if name == "mute":
            await sat.set_muted(_bool(value))
        elif name == "volume":
            sat.set_volume(_volume(value))
        elif name == "stop":
            await sat.speaker.interrupt()
        elif name == "listen":
            await self._listen()
        else:
            raise CommandError(f"unknown command {name!r}")

    async def _listen(self) -> None:
        """Start a conversation: stream a command now, as a remote trigger from HA would."""
        sat = self.satellite
        if not sat.session.running:
            raise CommandError("no Home Assistant connection is running the satellite")
        if sat.muted:
            raise CommandError("the microphone is muted")
        if sat.session.streaming:
            raise CommandError("already listening")
        if not sat.config.wake.local:
            raise CommandError("Home Assistant listens for the wake word (wake.local false)")
        await sat.mode.triggered(
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS)
        )
