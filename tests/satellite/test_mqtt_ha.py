"""Home Assistant's own MQTT integration finds a satellite through discovery and drives it.

HA side: the real `mqtt` integration (with its `notify`, `switch`, `number`, `sensor` platforms)
connected to a real Mosquitto; satellite side: the real process with `discovery = true` and
announcements through the real Piper server. A user's actions (`notify.send_message`,
`switch.turn_on`, `number.set_value`) reach the satellite, and its state comes back to HA.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

pytest.importorskip("homeassistant.components.mqtt")

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.mqtt_broker import Broker, Subscriber, broker

from .test_mqtt import BASE, start_satellite, state_is
from .test_mqtt_announce import piper_port, wait_played

__all__ = ["broker", "piper_port"]  # the fixtures

NODE = "jarvis_satellite_test_satellite"


async def until(check: Callable[[], object], timeout: float = 30) -> None:
    """Wait until `check()` is true."""
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.1)


def entity_id(hass: HomeAssistant, component: str, obj: str) -> str | None:
    """The entity HA's MQTT discovery made for the satellite's `obj`."""
    return er.async_get(hass).async_get_entity_id(component, "mqtt", f"{NODE}_{obj}")


@pytest.mark.servers_extra
async def test_home_assistant_discovers_and_drives_the_satellite(
    hass: HomeAssistant, tmp_path: Path, broker: Broker, piper_port: int
) -> None:
    sat = await start_satellite(
        tmp_path,
        broker,
        "--mqtt-discovery",
        "true",
        "--mqtt-announce-tts-uri",
        f"tcp://127.0.0.1:{piper_port}",
    )
    ha_config = tmp_path / "ha"  # HA's MQTT reads its YAML configuration: an empty one
    ha_config.mkdir()
    (ha_config / "configuration.yaml").write_text("{}\n")
    hass.config.config_dir = str(ha_config)
    entry = MockConfigEntry(
        domain="mqtt",
        data={"broker": "127.0.0.1", "port": broker.port, "protocol": "5"},
        version=2,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    try:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        objects = {"notify": "announce", "switch": "mute", "number": "volume", "sensor": "state"}
        await until(lambda: all(entity_id(hass, c, o) for c, o in objects.items()))
        ids = {component: entity_id(hass, component, obj) for component, obj in objects.items()}
        device = dr.async_get(hass).async_get_device_by_identifier(("mqtt", NODE), entry.entry_id)
        assert device is not None
        assert (device.name, device.suggested_area) == ("Test satellite", "Kitchen")
        for found in ids.values():  # one device for all four
            entity = er.async_get(hass).async_get(str(found))
            assert entity is not None and entity.device_id == device.id

        state = ids["sensor"]
        await until(lambda: (s := hass.states.get(state)) is not None and s.state == "paused")
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await hass.services.async_call(
                "notify",
                "send_message",
                {"entity_id": ids["notify"], "message": "Dinner is ready."},
                blocking=True,
            )
            ack = await sub.wait_for(f"{BASE}/ack", lambda a: a["command"] == "announce", 60)
            assert (ack["ok"], ack["error"]) == (True, None), ack
            assert 0.5 < ack["seconds"] < 4
            await sub.wait_for(f"{BASE}/event/announce_played", timeout=60)
            await wait_played(sat, ack["seconds"] - 0.05)

            await hass.services.async_call(
                "switch", "turn_on", {"entity_id": ids["switch"]}, blocking=True
            )
            await sub.wait_for(f"{BASE}/state", state_is(muted=True))
            mute = ids["switch"]
            await until(lambda: (s := hass.states.get(mute)) is not None and s.state == "on")
            await hass.services.async_call(
                "number", "set_value", {"entity_id": ids["number"], "value": 0.35}, blocking=True
            )
            await sub.wait_for(f"{BASE}/state", state_is(volume=0.35))
            volume = ids["number"]
            await until(lambda: (s := hass.states.get(volume)) is not None and s.state == "0.35")
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await hass.async_block_till_done()
        assert await sat.stop() == 0, sat.log_text()
