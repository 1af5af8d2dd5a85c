"""What of the home goes into one request's prompt.

HA's Assist API lists every exposed entity in the system prompt on every turn (its "static
context"): thousands of tokens in a real home. For a Jarvis request the home part of the prompt
is built for the request instead:

- the room of the satellite (or device) asking, with everything exposed in it;
- entities and areas (and floors) the request names, by name or alias, without regard to case
  or accents, in English or French, tolerating small transcription slips;
- the entities of the domains the request implies ("lights", "lumières" -> light; "volets",
  "blinds" -> cover; "temperature" -> temperature sensors and thermostats), home-wide when the
  request says so ("all", "tous", "partout") or when no room is known;
- each with a compact state line; everything else counted per area and domain, and left to HA's
  GetLiveContext tool (filter by name, area, domain) for the model to look further.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
import difflib
from enum import IntEnum
from functools import lru_cache
import re
from typing import override
import unicodedata

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.components.homeassistant.llm import NO_ENTITIES_PROMPT, GetLiveContextTool
from homeassistant.components.llm import DATA_PLATFORMS, LLMTools
from homeassistant.components.sensor import async_rounded_state
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import DOMAIN as HOMEASSISTANT_DOMAIN, HomeAssistant, State
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    floor_registry as fr,
    llm,
)

from .const import LOGGER


def _split(text: str) -> list[str]:
    """The words of a list written as one string."""
    return text.split()


# Domains HA's overview leaves out too: they have tools of their own.
SKIPPED_DOMAINS = frozenset({"calendar", "script"})
# A domain the request implies is listed home-wide, even from a room, when it has this few
# entities outside the room ("what's the temperature outside" from the kitchen).
FEW_OUTSIDE = 6
FUZZY_CUTOFF = 0.85  # difflib ratio for a word to stand for a name's word (STT slips, lamp/lampe)
FUZZY_MIN_LENGTH = 5  # shorter words must match exactly ("light" is not "night")

STOP_WORDS = frozenset(
    # English
    _split(
        "a an the of in on off at to for from and or my our your me us it its is are be please "
        "what whats s how much many turn switch set make can could would you do does there this "
        "that these those up down some now room"
        # French (folded: accents removed)
        " le la les l un une des de du d au aux a en dans sur sous pour et ou mon ma mes ton ta tes "
        "notre nos votre vos me moi il elle est sont c ce cet cette ces qu que qui j y s peux peut "
        "pourrais stp svp allume eteins mets met quel quelle quels quelles piece"
    )
)

# Words for "everywhere": a domain the request implies is then listed home-wide.
ALL_WORDS = frozenset(
    _split(
        "all every everything everywhere whole house home any which "
        "tous toutes tout partout maison chaque aucun aucune"
    )
)

# Words (folded, singular) -> the domains (and sensor device classes) they imply.
_TEMPERATURE = (("sensor", "temperature"), ("climate", None))
DOMAIN_WORDS: dict[str, tuple[tuple[str, str | None], ...]] = {
    **dict.fromkeys(
        _split(
            "light lamp lampe lumiere eclairage ampoule plafonnier spot bright brightness dim "
            "lampadaire veilleuse applique"
        ),
        (("light", None),),
    ),
    **dict.fromkeys(
        _split("plug socket outlet prise interrupteur"),
        (("switch", None),),
    ),
    **dict.fromkeys(
        _split("blind shutter curtain cover shade volet store rideau open close ouvre ferme"),
        (("cover", None), ("valve", None)),
    ),
    **dict.fromkeys(
        _split("temperature hot cold warm chaud froid degree degre"),
        _TEMPERATURE,
    ),
    **dict.fromkeys(
        _split(
            "heating heat heater thermostat ac aircon conditioning chauffage radiateur "
            "climatisation clim"
        ),
        (("climate", None),),
    ),
    **dict.fromkeys(_split("humidity humid humidite"), (("sensor", "humidity"),)),
    **dict.fromkeys(_split("power consumption watt consommation"), (("sensor", "power"),)),
    **dict.fromkeys(_split("energy kwh energie"), (("sensor", "energy"),)),
    **dict.fromkeys(_split("battery batterie pile"), (("sensor", "battery"),)),
    **dict.fromkeys(_split("co2"), (("sensor", "carbon_dioxide"),)),
    **dict.fromkeys(_split("pressure pression"), (("sensor", "pressure"),)),
    **dict.fromkeys(_split("noise loud bruit"), (("sensor", "sound_pressure"),)),
    **dict.fromkeys(
        _split("illuminance lux luminosite"), (("sensor", "illuminance"), ("light", None))
    ),
    **dict.fromkeys(
        _split("lock unlock locked unlocked verrou verrouille deverrouille serrure"),
        (("lock", None),),
    ),
    **dict.fromkeys(_split("door porte"), (("lock", None), ("cover", "door"), ("cover", "garage"))),
    **dict.fromkeys(_split("garage"), (("cover", "garage"),)),
    **dict.fromkeys(_split("window fenetre"), (("cover", "window"), ("binary_sensor", "window"))),
    **dict.fromkeys(_split("fan ventilateur"), (("fan", None),)),
    **dict.fromkeys(
        _split("music song play pause volume tv television speaker musique chanson tele enceinte"),
        (("media_player", None),),
    ),
    **dict.fromkeys(_split("vacuum aspirateur"), (("vacuum", None),)),
    **dict.fromkeys(_split("motion presence mouvement"), (("binary_sensor", "motion"),)),
    **dict.fromkeys(_split("weather forecast rain meteo pluie"), (("weather", None),)),
    **dict.fromkeys(_split("alarm alarme"), (("alarm_control_panel", None),)),
    **dict.fromkeys(_split("scene ambiance"), (("scene", None),)),
}

_SEPARATORS = re.compile(r"[^\w]+")


class Reason(IntEnum):
    """Why an entity is listed; the lowest are left out first when the prompt is too big."""

    DOMAIN = 1  # of a domain the request implies
    KIND = 2  # its name without its area's name is in the request ("the reading lamp")
    AREA = 3  # in an area (or floor) the request names
    NAMED = 4  # the request names it
    ROOM = 5  # in the room of the satellite asking: never left out


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Lower case, without accents, apostrophes and punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_SEPARATORS.sub(" ", stripped.replace("_", " ")).split())


def _singular(word: str) -> str:
    """'lights' -> 'light', 'switches' -> 'switch', 'rideaux' -> 'rideau'."""
    if len(word) > 4 and word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word[-1] in "sx" and word[-2] != "s":
        return word[:-1]
    return word


@lru_cache(maxsize=8192)
def words(text: str) -> frozenset[str]:
    """The words of a name or request that matter for matching (folded, singular)."""
    return frozenset(_singular(w) for w in fold(text).split() if w not in STOP_WORDS)


@dataclass(slots=True)
class _Area:
    """An area, the words of its names, and its floor."""

    area: ar.AreaEntry
    phrases: list[frozenset[str]]
    floor: fr.FloorEntry | None

    @property
    def label(self) -> str:
        """'Kitchen (Cuisine)': its name and aliases."""
        aliases = sorted(a for a in self.area.aliases if a != self.area.name)
        return f"{self.area.name} ({', '.join(aliases)})" if aliases else self.area.name

    @property
    def words(self) -> frozenset[str]:
        return frozenset().union(*self.phrases)


@dataclass(slots=True)
class _Entity:
    """An exposed entity, as the context sees it."""

    state: State
    names: list[str]
    area_id: str | None
    phrases: list[frozenset[str]]

    @property
    def entity_id(self) -> str:
        return self.state.entity_id

    @property
    def domain(self) -> str:
        return self.state.domain

    def has(self, wanted: Iterable[tuple[str, str | None]]) -> bool:
        """Whether it is of one of these (domain, device class) kinds."""
        device_class = self.state.attributes.get(ATTR_DEVICE_CLASS)
        return any(
            self.domain == domain and (klass is None or device_class == klass)
            for domain, klass in wanted
        )


@dataclass(slots=True)
class ContextLine:
    """One listed entity."""

    entity_id: str
    domain: str
    area_id: str | None
    reason: Reason
    text: str


@dataclass(slots=True)
class HomeContext:
    """The home part of one request's prompt: what is listed and why, the rest counted."""

    room_id: str | None
    area_labels: dict[str | None, str]  # area id -> "Kitchen (Cuisine)"; None -> "No area"
    lines: list[ContextLine]
    unlisted: list[tuple[str | None, str]]  # (area id, domain) of each entity not listed
    exposed: int
    text: str = ""  # the section as it is in the system prompt (all lines)

    def render(self, dropped: frozenset[str] = frozenset()) -> str:
        """The section, without the `dropped` entities (they join the counts)."""
        if not self.exposed:
            return NO_ENTITIES_PROMPT
        out = [
            (
                "Home: only what this request needs is listed (name (aliases): domain, state);"
                " for anything else call GetLiveContext with a name, area or domain."
            )
        ]
        by_area: dict[str | None, list[str]] = {}
        for line in self.lines:
            if line.entity_id not in dropped:
                by_area.setdefault(line.area_id, []).append(line.text)
        if self.room_id is not None and self.room_id not in by_area:
            by_area = {self.room_id: [], **by_area}
        for area_id, texts in by_area.items():
            here = " - where the user is" if area_id == self.room_id else ""
            out.append(f"{self.area_labels.get(area_id, 'No area')}{here}:")
            out.extend(texts or ["- nothing exposed"])
        counts = Counter(self.unlisted)
        counts.update(
            (line.area_id, line.domain) for line in self.lines if line.entity_id in dropped
        )
        if counts:
            per_area: dict[str | None, list[str]] = {}
            for (area_id, domain), count in sorted(
                counts.items(), key=lambda item: (str(item[0][0]), item[0][1])
            ):
                per_area.setdefault(area_id, []).append(f"{domain} {count}")
            summary = "; ".join(
                f"{self.area_labels.get(area_id, 'No area')}: {', '.join(parts)}"
                for area_id, parts in sorted(
                    per_area.items(), key=lambda item: self.area_labels.get(item[0], "")
                )
            )
            out.append(f"Not listed (count per area and domain): {summary}.")
        return "\n".join(out)

    def droppable(self) -> list[ContextLine]:
        """Lines outside the room, those the request implies least first."""
        outside = [line for line in reversed(self.lines) if line.reason is not Reason.ROOM]
        return sorted(outside, key=lambda line: line.reason)  # stable: later areas first


def _state_text(hass: HomeAssistant, state: State) -> str:
    """A compact state: 'on 80%', 'open 40%', '21.5 °C', 'heat 20.5 -> 21 °C'."""
    attributes = state.attributes
    value = state.state
    if state.domain == "sensor":
        value = async_rounded_state(hass, state.entity_id, state)
        if unit := attributes.get(ATTR_UNIT_OF_MEASUREMENT):
            value = f"{value} {unit}"
        return value
    if state.domain == "light" and isinstance(brightness := attributes.get("brightness"), int):
        return f"{value} {max(1, round(brightness / 255 * 100))}%"
    if (
        state.domain in {"cover", "valve"}
        and (position := attributes.get("current_position")) is not None
    ):
        return f"{value} {position}%"
    if state.domain in {"climate", "water_heater"}:
        unit = hass.config.units.temperature_unit
        current, target = attributes.get("current_temperature"), attributes.get("temperature")
        if current is not None and target is not None:
            return f"{value} {current} -> {target} {unit}"
        if current is not None:
            return f"{value} {current} {unit}"
    if state.domain == "fan" and (percentage := attributes.get("percentage")) is not None:
        return f"{value} {percentage}%"
    if state.domain == "media_player" and (title := attributes.get("media_title")):
        return f"{value} {title}"
    return value


def _line_text(hass: HomeAssistant, entity: _Entity) -> str:
    name, *aliases = entity.names
    label = f"{name} ({', '.join(aliases)})" if aliases else name
    return f"- {label}: {entity.domain}, {_state_text(hass, entity.state)}"


def _collect(hass: HomeAssistant, assistant: str) -> tuple[list[_Entity], dict[str, _Area]]:
    """Exposed entities and the home's areas."""
    ent_reg, dev_reg, area_reg = er.async_get(hass), dr.async_get(hass), ar.async_get(hass)
    floor_reg = fr.async_get(hass)
    areas = {
        area.id: _Area(
            area,
            [words(n) for n in (area.name, *area.aliases)],
            floor_reg.async_get_floor(area.floor_id) if area.floor_id else None,
        )
        for area in area_reg.async_list_areas()
    }
    entities: list[_Entity] = []
    for state in hass.states.async_all():
        if state.domain in SKIPPED_DOMAINS or not async_should_expose(
            hass, assistant, state.entity_id
        ):
            continue
        entry = ent_reg.async_get(state.entity_id)
        names: list[str] = []
        area_id: str | None = None
        if entry is not None:
            names = er.async_get_entity_aliases(hass, entry, allow_empty=False)
            area_id = entry.area_id
            if area_id is None and entry.device_id:
                device = dev_reg.async_get(entry.device_id)
                area_id = dr.async_get_effective_area_id(hass, device) if device else None
        names = list(dict.fromkeys(n for n in names if n)) or [state.name]
        entities.append(_Entity(state, names, area_id, [words(n) for n in names]))
    return entities, areas


def _request_words(request: str, vocabulary: frozenset[str]) -> set[str]:
    """The request's words, plus the home's words they stand for (accents, slips, lamp/lampe)."""
    found = set(words(request))
    candidates = sorted(vocabulary - found)
    for word in list(found):
        if len(word) >= FUZZY_MIN_LENGTH and word not in vocabulary:
            found.update(difflib.get_close_matches(word, candidates, n=3, cutoff=FUZZY_CUTOFF))
    return found


def _most_specific(matched: dict[str, frozenset[str]]) -> set[str]:
    """Keys of the matched names, less those whose words are all in another's.

    'Chambre' is not meant when 'Chambre d'amis' was said.
    """
    return {
        key
        for key, phrase in matched.items()
        if not any(phrase < other for other_key, other in matched.items() if other_key != key)
    }


def build_home_context(
    hass: HomeAssistant, assistant: str, request: str, room_id: str | None
) -> HomeContext:
    """Select the entities `request`, asked from `room_id`, needs; count the others."""
    entities, areas = _collect(hass, assistant)
    vocabulary = frozenset().union(
        *(p for e in entities for p in e.phrases), *(a.words for a in areas.values())
    )
    said = _request_words(request, vocabulary)
    if room_id not in areas:
        room_id = None

    # Areas (and floors) named by the request.
    matched_areas: dict[str, frozenset[str]] = {}
    for area_id, area in areas.items():
        for phrase in area.phrases:
            if phrase and phrase <= said:
                matched_areas[area_id] = max(phrase, matched_areas.get(area_id, phrase), key=len)
    named_areas = _most_specific(matched_areas)
    floors = {
        floor.floor_id: [words(n) for n in (floor.name, *floor.aliases)]
        for area in areas.values()
        if (floor := area.floor) is not None
    }
    for floor_id, phrases in floors.items():
        if any(phrase and phrase <= said for phrase in phrases):
            named_areas.update(a for a, area in areas.items() if area.area.floor_id == floor_id)

    implied = [kind for word in said for kind in DOMAIN_WORDS.get(word, ())]
    everywhere = bool(said & ALL_WORDS)

    reasons: dict[str, Reason] = {}

    def add(entity: _Entity, reason: Reason) -> None:
        if reason > reasons.get(entity.entity_id, 0):
            reasons[entity.entity_id] = reason

    # Entities named: all the words of a name or alias said, and no other named entity's name
    # holding those words and more ("Volet de la chambre" is not "Volet de la chambre d'amis").
    named: dict[str, frozenset[str]] = {}
    for entity in entities:
        for phrase in entity.phrases:
            if phrase and phrase <= said and len(phrase) > len(named.get(entity.entity_id, ())):
                named[entity.entity_id] = phrase
    named_ids = _most_specific(named)

    kinds_in_room: list[_Entity] = []
    kinds_elsewhere: list[_Entity] = []
    for entity in entities:
        if room_id is not None and entity.area_id == room_id:
            add(entity, Reason.ROOM)
        if entity.entity_id in named_ids:
            add(entity, Reason.NAMED)
            continue
        if entity.area_id in named_areas and (not implied or entity.has(implied)):
            add(entity, Reason.AREA)
        own_area = areas.get(entity.area_id or "")
        area_words = own_area.words if own_area else frozenset()
        if any((core := phrase - area_words) and core <= said for phrase in entity.phrases):
            (kinds_in_room if entity.area_id == room_id else kinds_elsewhere).append(entity)
    # "The reading lamp": the room's own when it has one, else every one (the model asks which).
    if not named_areas and (room_id is None or not kinds_in_room):
        for entity in kinds_elsewhere:
            add(entity, Reason.KIND)

    if implied and not named_areas:
        of_kind = [e for e in entities if e.has(implied)]
        outside = [e for e in of_kind if room_id is None or e.area_id != room_id]
        if everywhere or room_id is None or len(outside) <= FEW_OUTSIDE:
            for entity in outside:
                add(entity, Reason.DOMAIN)

    lines: list[ContextLine] = []
    unlisted: list[tuple[str | None, str]] = []
    # Listed by area (the room first), entities by name within an area.
    ordered = sorted(
        entities,
        key=lambda e: (
            e.area_id != room_id,
            areas[e.area_id].area.name if e.area_id in areas else "~",
            e.names[0].casefold(),
        ),
    )
    for entity in ordered:
        if (reason := reasons.get(entity.entity_id)) is None:
            unlisted.append((entity.area_id, entity.domain))
            continue
        lines.append(
            ContextLine(
                entity.entity_id, entity.domain, entity.area_id, reason, _line_text(hass, entity)
            )
        )
    context = HomeContext(
        room_id=room_id,
        area_labels={area_id: area.label for area_id, area in areas.items()},
        lines=lines,
        unlisted=unlisted,
        exposed=len(entities),
    )
    context.text = context.render()
    return context


@dataclass(slots=True)
class RequestLLMContext(llm.LLMContext):
    """HA's LLM context, with the request it is for, and the home context built for it."""

    request: str = ""
    home: HomeContext | None = field(default=None, compare=False, repr=False)


def device_area_id(hass: HomeAssistant, device_id: str | None) -> str | None:
    """The area of a device (a satellite), if it has one."""
    if device_id and (device := dr.async_get(hass).async_get(device_id)):
        return dr.async_get_effective_area_id(hass, device)
    return None


async def async_assist_instance(
    hass: HomeAssistant, llm_context: llm.LLMContext
) -> llm.APIInstance:
    """HA's Assist API, with its whole-home overview replaced by the request's home context.

    For a context without a request (another agent using the Jarvis API) it is HA's as is.
    """
    if not isinstance(llm_context, RequestLLMContext) or DATA_PLATFORMS not in hass.data:
        return await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context)
    assist = llm.async_get_apis(hass)
    api = next((a for a in assist if a.id == llm.LLM_API_ASSIST), None)
    if api is None:  # pragma: no cover - the llm integration registers it at set-up
        return await llm.async_get_api(hass, llm.LLM_API_ASSIST, llm_context)

    platforms = await hass.data[DATA_PLATFORMS].async_get_platforms()
    tools: list[llm.Tool] = []
    prompts: list[str] = []
    for domain, platform in sorted(platforms.items()):
        if domain == HOMEASSISTANT_DOMAIN:
            # HA's platform adds GetLiveContext and the whole home (its prompt); Jarvis keeps
            # the tool and lists only what the request needs.
            home = build_home_context(
                hass,
                llm_context.assistant,
                llm_context.request,
                device_area_id(hass, llm_context.device_id),
            )
            llm_context.home = home
            result: LLMTools | None = LLMTools(tools=[GetLiveContextTool()], prompt=home.text)
        else:
            try:
                result = platform.async_get_tools(hass, llm_context, llm.LLM_API_ASSIST)
            except Exception:  # noqa: BLE001 - as HA's Assist API: one platform's bug is logged
                LOGGER.exception("Error getting tools from LLM platform %s", domain)
                continue
        if result is None:
            continue
        tools.extend(result.tools)
        if result.prompt:
            prompts.append(result.prompt)
    return llm.APIInstance(
        api=api,
        api_prompt="\n".join(prompts),
        llm_context=llm_context,
        tools=tools,
        custom_serializer=llm.selector_serializer,
    )


class RequestAssistAPI(llm.API):
    """HA's Assist API for a Jarvis request (see `async_assist_instance`)."""

    @override
    async def async_get_api_instance(self, llm_context: llm.LLMContext) -> llm.APIInstance:
        return await async_assist_instance(self.hass, llm_context)


def agent_api(hass: HomeAssistant, api_ids: list[str]) -> llm.API | list[str]:
    """What an agent passes to `ChatLog.async_provide_llm_data` for its APIs.

    Assist's whole-home overview is then built for the request; the Jarvis API does the same
    through `async_assist_instance`.
    """
    if llm.LLM_API_ASSIST not in api_ids:
        return api_ids
    known = {api.id: api for api in llm.async_get_apis(hass)}
    if any(api_id not in known for api_id in api_ids):
        return api_ids  # HA reports the missing API
    apis: list[llm.API] = [
        RequestAssistAPI(hass=hass, id=llm.LLM_API_ASSIST, name=known[api_id].name)
        if api_id == llm.LLM_API_ASSIST
        else known[api_id]
        for api_id in api_ids
    ]
    return apis[0] if len(apis) == 1 else llm.MergedAPI(apis)
