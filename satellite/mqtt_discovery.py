"""Home Assistant MQTT discovery configs of a satellite (`[mqtt] discovery = true`).

One device (`jarvis_satellite_<id>`) with three entities (four with announcements), each config
published retained on `<discovery_prefix>/<component>/jarvis_satellite_<id>/<object>/config`:

- `sensor` `state`: paused / idle / streaming, from the state topic;
- `switch` `mute`: the microphone mute (`command/mute` ON/OFF);
- `number` `volume`: the speaker volume, 0.0–1.0 in steps of 0.05 (`command/volume`);
- `notify` `announce` (only with `[mqtt] announce_tts_uri`): HA's `notify.send_message`
  publishes the message on `command/announce`, and the satellite speaks it.

All follow the satellite's availability topic; commands are sent at QoS 1 (kept by the broker
for a satellite that is offline). Off by default: a satellite paired with the
Jarvis integration already has a device with these settings there, and the two would show
every entity twice.
"""

from __future__ import annotations

from typing import Any

from satellite.config import SatelliteConfig


def discovery_configs(config: SatelliteConfig, base: str) -> dict[str, dict[str, Any]]:
    """Topic → config payload for each entity; `base` is `<topic_prefix>/<id>`."""
    node = "jarvis_satellite_" + base.rsplit("/", 1)[-1]
    device: dict[str, Any] = {
        "identifiers": [node],
        "name": config.name,
        "manufacturer": "Jarvis",
        "model": "Jarvis satellite",
    }
    if config.area:
        device["suggested_area"] = config.area
    common: dict[str, Any] = {
        "availability_topic": f"{base}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": device,
    }
    state = {"state_topic": f"{base}/state"}
    prefix = config.mqtt.discovery_prefix.rstrip("/")
    entities: dict[tuple[str, str], dict[str, Any]] = {
        ("sensor", "state"): {
            **state,
            "name": "State",
            "value_template": "{{ value_json.state }}",
            "icon": "mdi:account-voice",
        },
        ("switch", "mute"): {
            **state,
            "name": "Mute",
            "command_topic": f"{base}/command/mute",
            "qos": 1,
            "payload_on": "ON",
            "payload_off": "OFF",
            "value_template": "{{ 'ON' if value_json.muted else 'OFF' }}",
            "icon": "mdi:microphone-off",
        },
        ("number", "volume"): {
            **state,
            "name": "Volume",
            "command_topic": f"{base}/command/volume",
            "qos": 1,
            "value_template": "{{ value_json.volume }}",
            "min": 0.0,
            "max": 1.0,
            "step": 0.05,
            "mode": "slider",
            "icon": "mdi:volume-high",
        },
    }
    if config.mqtt.announce_tts_uri:
        entities["notify", "announce"] = {
            "name": "Announce",
            "command_topic": f"{base}/command/announce",
            "qos": 1,
            "icon": "mdi:bullhorn",
        }
    return {
        f"{prefix}/{component}/{node}/{obj}/config": {
            **common,
            **entity,
            "unique_id": f"{node}_{obj}",
            "default_entity_id": f"{component}.{node}_{obj}",
        }
        for (component, obj), entity in entities.items()
    }
