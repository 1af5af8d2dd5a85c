"""A generated home for the benchmarks: N exposed entities over areas, English and French names.

Each area holds up to 25 entities (7 lights, 4 switches, 3 covers, 9 sensors, a thermostat, a
lock), in HA's registries with a state and exposed to Assist; a 30-entity home has 3 areas of 10.
Areas alternate between an English name with a French alias and the reverse.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components import conversation
from homeassistant.components.homeassistant.exposed_entities import async_expose_entity
from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import slugify

DOMAINS = ("light", "switch", "cover", "sensor", "climate", "lock")
PER_AREA = 25

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

_C = {"device_class": "temperature", "unit_of_measurement": "°C", "state_class": "measurement"}
# (domain, English kind, French kind, state, attributes), in the order an area gets them.
KINDS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("light", "Ceiling Light", "Plafonnier", "on", {"brightness": 204}),
    ("cover", "Blinds", "Store", "open", {"current_position": 100}),
    ("sensor", "Temperature", "Température", "21.4", _C),
    ("switch", "Plug", "Prise", "on", {}),
    ("light", "Floor Lamp", "Lampadaire", "off", {}),
    (
        "climate",
        "Thermostat",
        "Thermostat",
        "heat",
        {"current_temperature": 20.5, "temperature": 21},
    ),
    (
        "sensor",
        "Humidity",
        "Humidité",
        "48",
        {"device_class": "humidity", "unit_of_measurement": "%"},
    ),
    ("light", "Reading Lamp", "Lampe de lecture", "off", {}),
    ("lock", "Window Lock", "Verrou de fenêtre", "locked", {}),
    ("cover", "Shutter", "Volet", "closed", {"current_position": 0}),
    ("light", "Wall Light", "Applique", "off", {}),
    (
        "sensor",
        "Power",
        "Consommation",
        "35.2",
        {"device_class": "power", "unit_of_measurement": "W"},
    ),
    ("switch", "Fan Switch", "Interrupteur ventilateur", "off", {}),
    ("light", "Spotlights", "Spots", "on", {"brightness": 128}),
    (
        "sensor",
        "CO2",
        "CO2",
        "612",
        {"device_class": "carbon_dioxide", "unit_of_measurement": "ppm"},
    ),
    ("cover", "Curtains", "Rideaux", "open", {"current_position": 60}),
    ("light", "LED Strip", "Ruban LED", "off", {}),
    (
        "sensor",
        "Battery",
        "Batterie",
        "87",
        {"device_class": "battery", "unit_of_measurement": "%"},
    ),
    ("switch", "Radio", "Radio", "off", {}),
    ("light", "Night Light", "Veilleuse", "off", {}),
    (
        "sensor",
        "Energy",
        "Énergie",
        "12.8",
        {"device_class": "energy", "unit_of_measurement": "kWh"},
    ),
    ("switch", "Charger", "Chargeur", "on", {}),
    ("sensor", "Illuminance", "Luminosité", "230", {"device_class": "illuminance"}),
    ("sensor", "Pressure", "Pression", "1013", {"device_class": "pressure"}),
    ("sensor", "Noise", "Bruit", "38", {"device_class": "sound_pressure"}),
)


def _area(index: int) -> tuple[str, str, str]:
    """The index-th area: the 12 above, then 'Bedroom 2', 'Chambre 2' ... for bigger homes."""
    english, french, of_area = AREAS[index % len(AREAS)]
    if index < len(AREAS):
        return english, french, of_area
    number = index // len(AREAS) + 1
    return f"{english} {number}", f"{french} {number}", f"{of_area} {number}"


async def async_setup_home(hass: HomeAssistant, entities: int) -> list[str]:
    """Create a home of `entities` exposed entities; returns the areas' names."""
    for domain in DOMAINS:
        assert await async_setup_component(hass, domain, {})
    areas = max(3, -(-entities // PER_AREA))
    per_area = [entities // areas + (1 if i < entities % areas else 0) for i in range(areas)]
    area_reg, ent_reg = ar.async_get(hass), er.async_get(hass)
    names: list[str] = []
    for index, count in enumerate(per_area):
        english, french, of_area = _area(index)
        name, alias = (english, french) if index % 2 == 0 else (french, english)
        area = area_reg.async_get_or_create(name)
        area = area_reg.async_update(area.id, aliases={alias})
        names.append(name)
        for domain, en_kind, fr_kind, state, attributes in KINDS[:count]:
            en_name, fr_name = f"{english} {en_kind}", f"{fr_kind} {of_area}"
            entity_name, entity_alias = (en_name, fr_name) if index % 2 == 0 else (fr_name, en_name)
            object_id = slugify(en_name)
            entry = ent_reg.async_get_or_create(
                domain, "bench_home", object_id, suggested_object_id=object_id
            )
            ent_reg.async_update_entity(
                entry.entity_id,
                area_id=area.id,
                original_name=entity_name,
                aliases=[er.COMPUTED_NAME, entity_alias],
            )
            hass.states.async_set(
                entry.entity_id, state, {"friendly_name": entity_name, **attributes}
            )
            async_expose_entity(hass, conversation.DOMAIN, entry.entity_id, True)
    await hass.async_block_till_done()
    return names
