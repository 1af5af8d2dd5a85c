"""A generated home for the context budget tests: 12 areas, 300 entities, English and French names.

Each area holds 7 lights, 4 switches, 3 covers, 9 sensors, a thermostat and a lock (25 entities),
all in HA's registries with a state and exposed to Assist. Areas alternate between an English name
with a French alias and a French name with an English alias; so do the entities' names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.util import slugify

PLATFORM = "generated_home"

# (English name, French name, French "of the ..." form)
AREAS = (
    ("Kitchen", "Cuisine", "de la cuisine"),
    ("Living Room", "Salon", "du salon"),
    ("Bedroom", "Chambre", "de la chambre"),
    ("Office", "Bureau", "du bureau"),
    ("Bathroom", "Salle de bain", "de la salle de bain"),
    ("Dining Room", "Salle à manger", "de la salle à manger"),
    ("Hallway", "Couloir", "du couloir"),
    ("Kids Room", "Chambre d'enfant", "de la chambre d'enfant"),
    ("Guest Room", "Chambre d'amis", "de la chambre d'amis"),
    ("Laundry Room", "Buanderie", "de la buanderie"),
    ("Entrance", "Entrée", "de l'entrée"),
    ("Attic", "Grenier", "du grenier"),
)

# (domain, English kind, French kind, state, attributes)
KINDS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("light", "Ceiling Light", "Plafonnier", "on", {"brightness": 204}),
    ("light", "Floor Lamp", "Lampadaire", "off", {}),
    ("light", "Wall Light", "Applique", "off", {}),
    ("light", "Spotlights", "Spots", "on", {"brightness": 128}),
    ("light", "LED Strip", "Ruban LED", "off", {}),
    ("light", "Reading Lamp", "Lampe de lecture", "off", {}),
    ("light", "Night Light", "Veilleuse", "off", {}),
    ("switch", "Plug", "Prise", "on", {}),
    ("switch", "Fan Switch", "Interrupteur ventilateur", "off", {}),
    ("switch", "Radio", "Radio", "off", {}),
    ("switch", "Charger", "Chargeur", "on", {}),
    ("cover", "Blinds", "Store", "open", {"current_position": 100}),
    ("cover", "Shutter", "Volet", "closed", {"current_position": 0}),
    ("cover", "Curtains", "Rideaux", "open", {"current_position": 60}),
    (
        "sensor",
        "Temperature",
        "Température",
        "21.4",
        {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement"},
    ),
    (
        "sensor",
        "Humidity",
        "Humidité",
        "48",
        {"device_class": "humidity", "unit_of_measurement": "%", "state_class": "measurement"},
    ),
    (
        "sensor",
        "Power",
        "Consommation",
        "35.2",
        {"device_class": "power", "unit_of_measurement": "W"},
    ),
    (
        "sensor",
        "Illuminance",
        "Luminosité",
        "230",
        {"device_class": "illuminance", "unit_of_measurement": "lx"},
    ),
    (
        "sensor",
        "CO2",
        "CO2",
        "612",
        {"device_class": "carbon_dioxide", "unit_of_measurement": "ppm"},
    ),
    (
        "sensor",
        "Battery",
        "Batterie",
        "87",
        {"device_class": "battery", "unit_of_measurement": "%"},
    ),
    (
        "sensor",
        "Energy",
        "Énergie",
        "12.8",
        {"device_class": "energy", "unit_of_measurement": "kWh"},
    ),
    (
        "sensor",
        "Pressure",
        "Pression",
        "1013",
        {"device_class": "pressure", "unit_of_measurement": "hPa"},
    ),
    (
        "sensor",
        "Noise",
        "Bruit",
        "38",
        {"device_class": "sound_pressure", "unit_of_measurement": "dB"},
    ),
    (
        "climate",
        "Thermostat",
        "Thermostat",
        "heat",
        {
            "current_temperature": 20.5,
            "temperature": 21,
            "hvac_modes": ["off", "heat"],
            "min_temp": 7,
            "max_temp": 35,
            "supported_features": 1,
        },
    ),
    ("lock", "Window Lock", "Verrou de fenêtre", "locked", {}),
)


@dataclass(frozen=True, slots=True)
class GeneratedEntity:
    """One entity of the generated home."""

    entity_id: str
    name: str  # its name (English in English-named areas, French in the others)
    alias: str  # the same in the other language
    area: str  # the area's name


def _names(area_index: int, en_kind: str, fr_kind: str) -> tuple[str, str]:
    """(name, alias) of an entity: English first in even areas, French first in odd ones."""
    area_en, _area_fr, of_area = AREAS[area_index]
    english = f"{area_en} {en_kind}"
    french = f"{fr_kind} {of_area}"
    return (english, french) if area_index % 2 == 0 else (french, english)


async def async_setup_home(hass: HomeAssistant) -> dict[str, GeneratedEntity]:
    """Create the 12 areas and 300 exposed entities; returns them by entity id."""
    areas = ar.async_get(hass)
    entities = er.async_get(hass)
    home: dict[str, GeneratedEntity] = {}
    for index, (area_en, area_fr, _of_area) in enumerate(AREAS):
        name, alias = (area_en, area_fr) if index % 2 == 0 else (area_fr, area_en)
        area = areas.async_get_or_create(name)
        if alias != name:
            area = areas.async_update(area.id, aliases={alias})
        for domain, en_kind, fr_kind, state, attributes in KINDS:
            entity_name, entity_alias = _names(index, en_kind, fr_kind)
            object_id = slugify(f"{area_en} {en_kind}")
            entry = entities.async_get_or_create(
                domain,
                PLATFORM,
                object_id,
                suggested_object_id=object_id,
                original_name=entity_name,
            )
            entities.async_update_entity(
                entry.entity_id, area_id=area.id, aliases=[er.COMPUTED_NAME, entity_alias]
            )
            hass.states.async_set(
                entry.entity_id, state, {"friendly_name": entity_name, **attributes}
            )
            async_expose_entity(hass, conversation.DOMAIN, entry.entity_id, True)
            home[entry.entity_id] = GeneratedEntity(
                entry.entity_id, entity_name, entity_alias, area.name
            )
    await hass.async_block_till_done()
    return home
