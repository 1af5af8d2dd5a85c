"""The demo home: its configuration.yaml, areas and what HA needs to run a Jarvis pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import dump


@dataclass(frozen=True)
class Room:
    """A room of the demo home with its light."""

    key: str
    name: str
    light: str  # the light's name; "lamp" in the living room, as in our recorded command

    @property
    def light_entity_id(self) -> str:
        """Entity id of the room's light."""
        return "light." + self.light.lower().replace(" ", "_")


ROOMS = (
    Room("kitchen", "Kitchen", "Kitchen light"),
    Room("living_room", "Living Room", "Living room lamp"),
    Room("bedroom", "Bedroom", "Bedroom light"),
    Room("office", "Office", "Office light"),
)
HALLWAY = Room("hallway", "Hallway", "Hallway light")


def _light(room: Room) -> dict[str, Any]:
    state = f"input_boolean.{room.key}_light"
    return {
        "name": room.light,
        "unique_id": f"jarvis_demo_{room.key}_light",
        "state": f"{{{{ is_state('{state}', 'on') }}}}",
        "turn_on": {"action": "input_boolean.turn_on", "target": {"entity_id": state}},
        "turn_off": {"action": "input_boolean.turn_off", "target": {"entity_id": state}},
    }


def configuration(http_port: int, language: str = "en") -> dict[str, Any]:
    """The demo home's configuration.yaml as a dict."""
    booleans: dict[str, Any] = {
        f"{room.key}_light": {"name": f"{room.name} light power", "initial": True} for room in ROOMS
    }
    booleans["heater"] = {"name": "Heater relay", "initial": False}
    booleans["front_door_locked"] = {"name": "Front door bolt", "initial": True}
    return {
        "homeassistant": {
            "name": "Jarvis demo home",
            "latitude": 48.85,
            "longitude": 2.35,
            "elevation": 35,
            "unit_system": "metric",
            "time_zone": "Europe/Paris",
            "country": "FR",
            "language": language,
        },
        "http": {"server_host": "127.0.0.1", "server_port": http_port},
        "api": {},
        "conversation": {},
        "assist_pipeline": {},
        "intent": {},
        "input_boolean": booleans,
        "template": [
            {"light": [_light(room) for room in ROOMS]},
            {
                "sensor": [
                    {
                        "name": "Living room temperature",
                        "unique_id": "jarvis_demo_living_room_temperature",
                        "unit_of_measurement": "°C",
                        "device_class": "temperature",
                        "state": "19.5",
                    }
                ]
            },
            {
                "lock": [
                    {
                        "name": "Front door",
                        "unique_id": "jarvis_demo_front_door",
                        "state": "{{ is_state('input_boolean.front_door_locked', 'on') }}",
                        "lock": {
                            "action": "input_boolean.turn_on",
                            "target": {"entity_id": "input_boolean.front_door_locked"},
                        },
                        "unlock": {
                            "action": "input_boolean.turn_off",
                            "target": {"entity_id": "input_boolean.front_door_locked"},
                        },
                    }
                ]
            },
        ],
        "climate": [
            {
                "platform": "generic_thermostat",
                "name": "Thermostat",
                "unique_id": "jarvis_demo_thermostat",
                "heater": "input_boolean.heater",
                "target_sensor": "sensor.living_room_temperature",
                "target_temp": 20,
                "initial_hvac_mode": "heat",
            }
        ],
    }


def write_config_dir(
    config_dir: Path, http_port: int, language: str = "en", extra: dict[str, Any] | None = None
) -> None:
    """Write a throwaway HA config folder for the demo home (plus `extra` components)."""
    config_dir.mkdir(parents=True, exist_ok=True)
    config = {**configuration(http_port, language), **(extra or {})}
    (config_dir / "configuration.yaml").write_text(dump(config))
    # HA looks for the Jarvis integration in <config>/custom_components.
    link = config_dir / "custom_components"
    if not link.exists():
        link.symlink_to(Path(__file__).resolve().parent.parent / "custom_components")


# entity_id -> room: what the user sees in HA's areas.
ENTITY_AREAS = {
    **{room.light_entity_id: room for room in ROOMS},
    "climate.thermostat": ROOMS[1],
    "sensor.living_room_temperature": ROOMS[1],
    "lock.front_door": HALLWAY,
}


def async_arrange_home(hass: HomeAssistant) -> None:
    """Create the areas, put entities in them, expose only what a user would expose."""
    areas = ar.async_get(hass)
    entities = er.async_get(hass)
    for entity_id, room in ENTITY_AREAS.items():
        area = areas.async_get_area_by_name(room.name) or areas.async_create(room.name)
        if entities.async_get(entity_id) is not None:
            entities.async_update_entity(entity_id, area_id=area.id)
        async_expose_entity(hass, "conversation", entity_id, True)
    for state in hass.states.async_all("input_boolean"):
        async_expose_entity(hass, "conversation", state.entity_id, False)


async def async_setup_home(hass: HomeAssistant, language: str = "en") -> None:
    """Add the demo home to an already running HA (what configuration.yaml does at start)."""
    config = configuration(http_port=0, language=language)
    hass.config.language = language
    for domain, conf in config.items():
        if domain in ("homeassistant", "http", "api"):
            continue
        if not await async_setup_component(hass, domain, {domain: conf}):
            raise RuntimeError(f"could not set up {domain} for the demo home")
    await hass.async_block_till_done()
    async_arrange_home(hass)
