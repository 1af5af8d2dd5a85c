"""The Jarvis card in a real browser (headless Debian Chromium, Playwright) on a real Home Assistant.

One HA (the demo's stack: our STT/TTS servers, a satellite fed by a recording, Jarvis on an
Ollama-protocol stub) and one page serve all the tests, in this file's order: the card on the
default dashboard, a typed command, a streamed model reply, the satellite through a recorded
command, push-to-talk from the browser's microphone, the dark theme, a phone's width, French,
the visual editor, a satellite that goes away and comes back (HA's Wyoming one disabled), mute
and volume, a Jarvis-driven satellite whose network drops, HA restarting, and a user who is not
an administrator.
"""

from __future__ import annotations

from pathlib import Path
import re
import time
from typing import Any

from .browser import Browser, BrowserError
from .conftest import PTT_COMMAND, DemoUi, SatelliteProcess, log_in
from .ollama_stub import STORY

# Page-side helpers: the card is deep inside HA's shadow roots.
FIND_CARD = """() => {
  const walk = (root) => {
    for (const el of root.querySelectorAll("*")) {
      if (el.localName === "jarvis-card") return el;
      if (el.shadowRoot) { const found = walk(el.shadowRoot); if (found) return found; }
    }
    return null;
  };
  return walk(document);
}"""
HASS = "document.querySelector('home-assistant').hass"
# Chromium's Playwright CSS selectors go through open shadow roots.
TEXT_INPUT = "jarvis-card input[name=text]"
PTT_BUTTON = "jarvis-card button.ptt"


def in_card(body: str) -> str:
    """A page function `(arg) => ...` with `card` (the card's shadow root) and `hass` in scope."""
    return f"""(arg) => {{
      const el = ({FIND_CARD})();
      if (!el || !el.shadowRoot) return null;
      const card = el.shadowRoot;
      const hass = {HASS};
      const text = (node) => (node ? node.textContent.replace(/\\s+/g, " ").trim() : null);
      {body}
    }}"""


def card_errors(browser: Browser) -> list[str]:
    """Console errors and page errors that come from the card (HA's own are not ours)."""
    logs: list[str] = browser.call("logs")
    return [line for line in logs if "jarvis" in line.lower()]


def record(browser: Browser, name: str, expression: str) -> None:
    """Record each new value of `expression` (in the card) into window[name], on every change."""
    browser.evaluate(
        in_card(f"""
        window[{name!r}] = [];
        const note = () => {{
          const value = (() => {{ {expression} }})();
          const seen = window[{name!r}];
          if (value !== null && value !== undefined && seen.at(-1) !== value) seen.push(value);
        }};
        new MutationObserver(note).observe(card, {{
          subtree: true, childList: true, attributes: true, characterData: true,
        }});
        note();
        return true;""")
    )


def poll(browser: Browser, name: str, expression: str) -> None:
    """Like `record`, every 25 ms and on whichever card element HA shows now (it may rebuild it)."""
    browser.evaluate(
        f"""() => {{
          window[{name!r}] = [];
          setInterval(() => {{
            const value = ({in_card(expression)})(null);
            const seen = window[{name!r}];
            if (value !== null && value !== undefined && seen.at(-1) !== value) seen.push(value);
          }}, 25);
        }}"""
    )


def send_text(browser: Browser, text: str) -> None:
    browser.call("fill", selector=TEXT_INPUT, text=text)
    browser.call("press", selector=TEXT_INPUT, key="Enter")


def talk_section(browser: Browser) -> str:
    """The talk section's text and each exchange's status (for failure messages)."""
    shown: str = browser.evaluate(
        in_card("""return [...card.querySelectorAll(".exchange")].map((ex) =>
                     `[${ex.dataset.status}] ${text(ex)}`).join(" | ") || text(card.querySelector(".talk"));""")
    )
    return shown


def last_exchange_done(browser: Browser, timeout: float = 30) -> dict[str, Any]:
    try:
        return _last_exchange_done(browser, timeout)
    except BrowserError as err:
        raise AssertionError(f"no answer on the card: {talk_section(browser)}") from err


def _last_exchange_done(browser: Browser, timeout: float) -> dict[str, Any]:
    result: dict[str, Any] = browser.wait_for(
        in_card("""
        const ex = card.querySelector(".exchange");
        if (!ex || !["done", "error", "speaking"].includes(ex.dataset.status)) return null;
        return { status: ex.dataset.status, said: text(ex.querySelector(".said")),
                 reply: text(ex.querySelector(".reply")), error: text(ex.querySelector(".error")) };"""),
        timeout=timeout,
    )
    return result


def words(text: str) -> list[str]:
    """The words of `text`, lower case, without punctuation."""
    return re.findall(r"[a-z0-9']+", text.lower())


def state_of(browser: Browser, entity_id: str) -> str:
    value: str = browser.evaluate(f"(id) => {HASS}.states[id].state", entity_id)
    return value


def wait_state(browser: Browser, entity_id: str, state: str, timeout: float = 10) -> None:
    """Wait until HA's frontend shows `entity_id` in `state`."""
    expression = f"(args) => {HASS}.states[args[0]].state === args[1]"
    browser.wait_for(expression, [entity_id, state], timeout=timeout)


def call_service(browser: Browser, domain: str, service: str, data: dict[str, Any]) -> None:
    browser.evaluate(
        f"(args) => {HASS}.callService(args[0], args[1], args[2])", [domain, service, data]
    )


def luminance(css_color: str) -> float:
    """Relative luminance (0 black .. 1 white) of an `rgb(...)` / `rgba(...)` color."""
    parts = css_color[css_color.index("(") + 1 : css_color.index(")")].split(",")
    r, g, b = (float(p) / 255 for p in parts[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_card_on_the_default_dashboard(browser: Browser, demo_ui: DemoUi) -> None:
    """HA's default panel is the demo's dashboard; the card shows the satellite, server, agent."""
    seen = browser.wait_for(
        in_card("""
        const sat = card.querySelector(".satellite");
        const agent = card.querySelector(".agent");
        if (!sat || !agent || !card.querySelector(".server.ok")) return null;
        return { path: location.pathname, activity: sat.dataset.activity,
                 connected: sat.dataset.connected, room: text(sat.querySelector(".name")),
                 sub: text(sat.querySelector(".sub")), server: text(card.querySelector(".server")),
                 agent: text(agent.querySelector(".name")), route: text(card.querySelector(".route")),
                 title: text(card.querySelector(".title")) };"""),
        timeout=60,
    )
    assert seen == {
        "path": "/lovelace/home",
        "activity": "idle",
        "connected": "true",
        "room": "Office",
        "sub": "Demo satellite · Mic volume ×1.0",
        "server": "Ollama reachable",
        "agent": "Jarvis",
        "route": "via Jarvis chat · Jarvis",
        "title": "Jarvis",
    }
    assert card_errors(browser) == []


def test_typed_command_turns_off_the_kitchen_light(browser: Browser) -> None:
    assert state_of(browser, "light.kitchen_light") == "on"
    send_text(browser, "turn off the kitchen light")
    exchange = last_exchange_done(browser)
    assert exchange == {
        "status": "done",
        "said": "turn off the kitchen light",
        "reply": "Turned off the light",
        "error": None,
    }
    wait_state(browser, "light.kitchen_light", "off")
    assert card_errors(browser) == []


def test_reply_from_the_model_streams_into_the_card(browser: Browser) -> None:
    """A request HA's intents don't handle goes to the model; its words show as they come."""
    record(browser, "replies", "return text(card.querySelector('.exchange .reply'));")
    send_text(browser, "Tell me a story about a lamp")
    exchange = last_exchange_done(browser, timeout=60)
    assert exchange["reply"] == STORY
    shown: list[str] = browser.evaluate("() => window.replies")
    partial = [text for text in shown if text and text != STORY and STORY.startswith(text)]
    # The story streams a word at a time (0.12 s apart): many partial replies were on screen.
    assert len(partial) >= 5, shown
    assert partial == sorted(partial, key=len)
    # The agent's figures come from the sensors that response updated.
    figures = browser.wait_for(
        in_card("""
        const f = text(card.querySelector(".agent .figures"));
        return f && f.includes("tokens/s") && f;"""),
        timeout=15,
    )
    assert figures.startswith("latency "), figures


# What the demo's recording says after "hey jarvis".
SATELLITE_COMMAND = "Turn off the kitchen light"


def satellite_turn(browser: Browser, demo_ui: DemoUi) -> tuple[list[str], dict[str, Any]]:
    """Play the recording once: the satellite's activities on the card, and the turn it added."""
    record(browser, "activities", "return card.querySelector('.satellite')?.dataset.activity;")
    turns_before = browser.evaluate(in_card("return card.querySelectorAll('.turn').length;"))
    demo_ui.play_recording()
    activities: list[str] = browser.wait_for(
        """() => { const a = window.activities; return a.length >= 4 && a.at(-1) === "idle" && a; }""",
        timeout=60,
    )
    # Then the request shows in the last turns, with its stages as bars on one time axis.
    turn: dict[str, Any] = browser.wait_for(
        in_card("""
        const t = card.querySelector(".turn");
        if (!t || card.querySelectorAll(".turn").length <= arg) return null;
        return { where: text(t.querySelector(".where")), heard: text(t.querySelector(".heard")),
                 answer: text(t.querySelector(".answer")),
                 bars: [...t.querySelectorAll(".bar")].map((b) => [b.dataset.stage,
                   parseFloat(b.style.left), parseFloat(b.style.width)]) };"""),
        turns_before,
        timeout=15,
    )
    return activities, turn


def test_satellite_listening_to_speaking_while_a_recording_plays(
    browser: Browser, demo_ui: DemoUi
) -> None:
    """'hey jarvis, turn off the kitchen light' into the satellite: its state follows live."""
    call_service(browser, "light", "turn_on", {"entity_id": "light.kitchen_light"})
    wait_state(browser, "light.kitchen_light", "on")
    # The satellite's capture starts where its wake word fired: what reaches Whisper differs
    # from one play to the next (two alignments 10 ms apart seen here), and tiny.en may mishear
    # one (one CI run of many heard "kitchen light" but HA's intents did not match; the model
    # answered). The user then says it again: so does this test, at most twice more. Only a
    # mishearing is forgiven: a transcript that is the command must be answered by HA's intent.
    misheard: list[dict[str, Any]] = []
    for _ in range(3):
        activities, turn = satellite_turn(browser, demo_ui)
        assert activities == ["idle", "listening", "thinking", "speaking", "idle"], activities
        assert turn["where"] == "Office", turn
        if words(turn["heard"] or "") == words(SATELLITE_COMMAND):
            break
        misheard.append(turn)
        assert state_of(browser, "light.kitchen_light") == "on", turn
    assert words(turn["heard"] or "") == words(SATELLITE_COMMAND), misheard
    assert turn["answer"] == "→ Turned off the light", turn
    wait_state(browser, "light.kitchen_light", "off")
    # "speech" shows only when HA's own VAD marked the end of speech; when the satellite's VAD
    # ends the audio first (a race the satellite often wins), STT is one bar from its start.
    stages = [stage for stage, _, _ in turn["bars"]]
    assert stages in (["speech", "stt", "intent", "tts"], ["stt", "intent", "tts"]), stages
    for _, left, width in turn["bars"]:
        assert left >= 0 and width > 0 and left + width <= 100.01
    lefts = [left for _, left, _ in turn["bars"]]
    assert lefts == sorted(lefts)
    assert card_errors(browser) == []


def push_to_talk(browser: Browser) -> dict[str, Any]:
    """Hold the button until HA's VAD ends the request; the exchange once answered."""
    browser.call("pointerDown", selector=PTT_BUTTON)
    try:
        listening = """const ex = card.querySelector(".exchange");
                       return ex && ex.dataset.voice === "true" && ex.dataset.status === "listening";"""
        browser.wait_for(in_card(listening), timeout=15)
        # HA's VAD ends the request after the command: the card stops listening by itself.
        browser.wait_for(
            in_card("""const ex = card.querySelector(".exchange");
                       return ex && ex.dataset.voice === "true" && ex.dataset.status !== "listening";"""),
            timeout=15,
        )
    finally:
        browser.call("pointerUp")
    return last_exchange_done(browser)


def test_push_to_talk_from_the_browser_microphone(browser: Browser) -> None:
    """Hold the button: the fake microphone says the command, HA's pipeline runs it."""
    assert state_of(browser, "light.kitchen_light") == "off"
    # Chromium's microphone path does not hand over the same samples twice, and tiny.en
    # mishears some captures ("Carrot on the kitchen light", "... kitchen white"; also in a
    # plain 30 s decode of that capture): one in twelve since the card asks for no noise
    # suppression or auto gain (README). The user then says it again: so does this test, at most
    # twice more. STT accuracy is measured by bench.stt on recorded speech, not here.
    misheard: list[dict[str, Any]] = []
    for _ in range(3):
        exchange = push_to_talk(browser)
        # Words as HA's pipeline heard them (Whisper's punctuation and case vary from run to run).
        if words(exchange["said"]) == words(PTT_COMMAND):
            break
        misheard.append(exchange)
        assert state_of(browser, "light.kitchen_light") == "off", exchange
    assert words(exchange["said"]) == words(PTT_COMMAND), misheard
    assert exchange["reply"] == "Turned on the light"
    assert exchange["error"] is None
    wait_state(browser, "light.kitchen_light", "on")
    assert card_errors(browser) == []


def test_dark_theme(browser: Browser, artifacts: Path) -> None:
    colors = in_card("""
        const style = getComputedStyle(card.querySelector("ha-card"));
        return [style.backgroundColor, style.color];""")
    background, color = browser.evaluate(colors)
    assert luminance(background) > 0.8 and luminance(color) < 0.2
    browser.call("colorScheme", scheme="dark")  # HA's default theme follows the system's
    try:
        # The theme's colours change (with a transition): wait for the dark ones.
        browser.wait_for(
            in_card("""const bg = getComputedStyle(card.querySelector("ha-card")).backgroundColor;
                       const [r, g, b] = bg.match(/[0-9.]+/g).map(Number);
                       return 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.2 * 255;"""),
            timeout=15,
        )
        background, color = browser.evaluate(colors)
        assert luminance(background) < 0.2 and luminance(color) > 0.7
        chip = browser.evaluate(
            in_card("return getComputedStyle(card.querySelector('.chip')).color;")
        )
        assert luminance(chip) > 0.4  # secondary text stays readable on the dark card
        browser.screenshot(artifacts / "card-dark.png", selector="jarvis-card")
    finally:
        browser.call("colorScheme", scheme="light")


def test_phone_width(browser: Browser, artifacts: Path) -> None:
    browser.call("viewport", width=390, height=844)
    try:
        # HA moves to its narrow layout (sidebar as a drawer, one column) in steps after the
        # resize: on a busy machine the card was once read half-way, its content 27 px wider
        # than it. So the layout is read once it has held still for half a second.
        layout = browser.wait_for(
            in_card("""
            const box = (el) => { const r = el.getBoundingClientRect();
                                  return [Math.round(r.left), Math.round(r.right), Math.round(r.height)]; };
            const haCard = card.querySelector("ha-card");
            if (haCard.getBoundingClientRect().width > 390) return null;
            const layout = { page: document.documentElement.scrollWidth, card: box(haCard),
                             overflow: haCard.scrollWidth - haCard.clientWidth,
                             controls: [...card.querySelectorAll("input, button")].map(box) };
            const key = JSON.stringify(layout), now = performance.now(), seen = window.phoneLayout;
            if (!seen || seen.key !== key) { window.phoneLayout = { key, since: now }; return null; }
            return now - seen.since >= 500 ? layout : null;"""),
            timeout=15,
        )
        assert layout["page"] <= 390
        assert layout["overflow"] <= 0
        for left, right, _ in [layout["card"], *layout["controls"]]:
            assert left >= 0 and right <= 390
        for _, _, height in layout["controls"]:
            assert height >= 36  # big enough for a thumb
        browser.screenshot(artifacts / "card-phone.png")
    finally:
        browser.call("viewport", width=1280, height=900)


def test_french(browser: Browser) -> None:
    """The user picks French in their profile: HA and the card switch language."""
    browser.evaluate(
        """() => document.querySelector('home-assistant').dispatchEvent(
             new CustomEvent('hass-language-select', { detail: 'fr' }))"""
    )
    try:
        texts = browser.wait_for(
            in_card("""
            const chip = text(card.querySelector(".chip"));
            return hass.language === "fr" && chip === "En veille" &&
              [...card.querySelectorAll("h3")].map(text);"""),
            timeout=20,
        )
        assert texts == ["Satellites", "Agents", "Parler à Jarvis", "Dernières requêtes"]
        placeholder = browser.evaluate(in_card("return card.querySelector('input').placeholder;"))
        assert placeholder == "Demandez à Jarvis…"
    finally:
        browser.evaluate(
            """() => document.querySelector('home-assistant').dispatchEvent(
                 new CustomEvent('hass-language-select', { detail: 'en' }))"""
        )
        # HA saves the choice in the user's data and applies what that subscription echoes: a
        # late echo of "fr" would switch the page back. Once "en" is stored, every echo is in.
        deadline = time.monotonic() + 20
        while (
            browser.evaluate(
                f"""async () => (await {HASS}.callWS({{ type: "frontend/get_user_data",
                                                  key: "language" }})).value?.language"""
            )
            != "en"
        ):
            assert time.monotonic() < deadline, "HA did not store the language back to English"
            time.sleep(0.2)
        browser.wait_for(in_card("return hass.language === 'en';"), timeout=20)


def test_visual_editor(browser: Browser, artifacts: Path) -> None:
    """HA's card editor shows the card's form (HA's own pickers) and gets the new config back."""
    labels = browser.evaluate(
        """async () => {
          const Card = customElements.get("jarvis-card");
          const editor = Card.getConfigElement();
          editor.hass = document.querySelector("home-assistant").hass;
          editor.setConfig({ type: "custom:jarvis-card", turns: 3 });
          window.editorChanges = [];
          editor.addEventListener("config-changed", (e) => window.editorChanges.push(e.detail.config));
          // Inside HA's element tree, as in its edit-card dialog (HA's pickers need its context).
          const box = document.createElement("div");
          box.style.cssText = "position:fixed;inset:0;z-index:1000;overflow:auto;padding:16px;" +
            "background:var(--card-background-color)";
          box.append(editor);
          document.querySelector("home-assistant").shadowRoot.append(box);
          window.jarvisEditor = editor;
          return JSON.stringify(Card.getStubConfig());
        }"""
    )
    assert labels == '{"type":"custom:jarvis-card"}'
    fields = browser.wait_for(
        """() => {
          const form = window.jarvisEditor.shadowRoot?.querySelector("ha-form");
          if (!form || !form.shadowRoot) return null;
          const labels = [];
          const walk = (root) => { for (const el of root.querySelectorAll("*")) {
            if (typeof el.label === "string" && el.label && !labels.includes(el.label)) labels.push(el.label);
            if (el.shadowRoot) walk(el.shadowRoot); } };
          walk(form.shadowRoot);
          // HA loads each selector's element on demand: wait until all are drawn.
          const drawn = form.getBoundingClientRect().height > 350;
          return drawn && labels.includes("Show the text box and push-to-talk") && labels;
        }""",
        timeout=20,
    )
    for label in (
        "Title",
        "Satellites (empty: all)",
        "Agent for the text box (empty: Jarvis's first agent)",
        "Assist pipeline (empty: the preferred one)",
        "Number of requests shown",
        "Show the agents and the server",
    ):
        assert label in fields
    browser.screenshot(artifacts / "card-editor.png")
    changes = browser.evaluate(
        """() => {
          const form = window.jarvisEditor.shadowRoot.querySelector("ha-form");
          form.dispatchEvent(new CustomEvent("value-changed",
            { detail: { value: { ...form.data, show_talk: false, title: "Maison" } } }));
          window.jarvisEditor.parentElement.remove();
          return window.editorChanges;
        }"""
    )
    assert changes == [
        {"type": "custom:jarvis-card", "turns": 3, "show_talk": False, "title": "Maison"}
    ]
    assert card_errors(browser) == []


def test_satellite_disconnected_then_back(browser: Browser) -> None:
    """The satellite leaves HA (its entry disabled): shown as such; the card keeps working."""
    entry_id = browser.evaluate(
        f"""async () => {{
          const entries = await {HASS}.callWS({{ type: "config_entries/get", domain: "wyoming" }});
          return entries.find((e) => e.title.includes("satellite")).entry_id;
        }}"""
    )
    disable = f"""(args) => {HASS}.callWS({{ type: "config_entries/disable",
                    entry_id: args[0], disabled_by: args[1] }})"""
    browser.evaluate(disable, [entry_id, "user"])
    try:
        shown = browser.wait_for(
            in_card("""const sat = card.querySelector(".satellite");
                       return sat.dataset.connected === "false" && text(sat.querySelector(".chip"));"""),
            timeout=20,
        )
        assert shown == "Disconnected"
        send_text(browser, "turn off the kitchen light")
        assert last_exchange_done(browser)["reply"] == "Turned off the light"
    finally:
        browser.evaluate(disable, [entry_id, None])
    browser.wait_for(
        in_card("""const sat = card.querySelector(".satellite");
                   return sat.dataset.connected === "true" && sat.dataset.activity === "idle";"""),
        timeout=60,
    )
    # Its room and mic volume come back too, once HA's frontend has its entities again (HA
    # sends the entity registry a few seconds after the states).
    wait_sub(browser, "Office", "Demo satellite · Mic volume ×1.0", timeout=30)
    assert card_errors(browser) == []


def satellite_row(browser: Browser, room: str) -> dict[str, str] | None:
    """The card's row of the satellite in `room`: its connection, activity and chip."""
    row: dict[str, str] | None = browser.evaluate(
        in_card("""const sat = [...card.querySelectorAll(".satellite")]
                     .find((s) => text(s.querySelector(".name")) === arg);
                   return sat ? { connected: sat.dataset.connected, activity: sat.dataset.activity,
                                  chip: text(sat.querySelector(".chip")),
                                  sub: text(sat.querySelector(".sub")) } : null;"""),
        room,
    )
    return row


def wait_satellite_row(browser: Browser, room: str, connected: str, timeout: float) -> str:
    """Wait until the satellite in `room` shows `connected` ("true"/"false"); its chip."""
    try:
        chip: str = browser.wait_for(
            in_card("""const sat = [...card.querySelectorAll(".satellite")]
                         .find((s) => text(s.querySelector(".name")) === arg[0]);
                       return sat && sat.dataset.connected === arg[1] &&
                         (arg[1] === "false" || sat.dataset.activity === "idle") &&
                         text(sat.querySelector(".chip"));"""),
            [room, connected],
            timeout=timeout,
        )
    except BrowserError as err:
        raise AssertionError(f"{room}: {satellite_row(browser, room)}") from err
    return chip


def sibling_entity(browser: Browser, room: str, domain: str, key: str) -> str:
    """The `domain` entity with translation key `key` on the device of the satellite the card
    shows in `room` (as HA's device page lists them)."""
    entity_id: str = browser.evaluate(
        in_card("""const [room, domain, key] = arg;
          const sat = [...card.querySelectorAll(".satellite")]
            .find((s) => text(s.querySelector(".name")) === room);
          const device = sat && hass.entities[sat.dataset.entity]?.device_id;
          const entry = device && Object.values(hass.entities).find((e) =>
            e.device_id === device && e.entity_id.startsWith(domain + ".") &&
            e.translation_key === key);
          return entry ? entry.entity_id : `none (row: ${!!sat}, device: ${device})`;"""),
        [room, domain, key],
    )
    assert entity_id.startswith(f"{domain}."), f"no {domain} '{key}' in {room}: {entity_id}"
    return entity_id


def wait_sub(browser: Browser, room: str, sub: str, timeout: float = 15) -> None:
    """Wait until the satellite row in `room` reads `sub` under its room."""
    try:
        browser.wait_for(
            in_card("""const sat = [...card.querySelectorAll(".satellite")]
                         .find((s) => text(s.querySelector(".name")) === arg[0]);
                       return sat && text(sat.querySelector(".sub")) === arg[1];"""),
            [room, sub],
            timeout=timeout,
        )
    except BrowserError as err:
        raise AssertionError(f"{room}: {satellite_row(browser, room)}, not {sub!r}") from err


def test_mute_and_mic_volume_follow_live(browser: Browser) -> None:
    """Muting HA's Wyoming satellite and changing its mic volume show on the card at once."""
    mute = sibling_entity(browser, "Office", "switch", "mute")
    gain = sibling_entity(browser, "Office", "number", "volume_multiplier")
    try:
        call_service(browser, "switch", "turn_on", {"entity_id": mute})
        wait_sub(browser, "Office", "Demo satellite · Muted · Mic volume ×1.0")
        call_service(browser, "number", "set_value", {"entity_id": gain, "value": 2})
        wait_sub(browser, "Office", "Demo satellite · Muted · Mic volume ×2.0")
    finally:
        call_service(browser, "number", "set_value", {"entity_id": gain, "value": 1})
        call_service(browser, "switch", "turn_off", {"entity_id": mute})
    wait_sub(browser, "Office", "Demo satellite · Mic volume ×1.0")
    assert wait_satellite_row(browser, "Office", "true", timeout=30) == "Idle"
    assert card_errors(browser) == []


def test_jarvis_satellite_drops_off_the_network_and_comes_back(
    browser: Browser, second_satellite: SatelliteProcess
) -> None:
    """A satellite Jarvis drives goes silent (its network drops): the card says Disconnected,
    keeps answering, and shows it back when the satellite answers again."""
    # The user adds it in Jarvis's dialog by its address, as the README says.
    created = browser.evaluate(
        f"""async (url) => {{
          const hass = {HASS};
          const flow = await hass.callApi("POST", "config/config_entries/flow",
                                          {{ handler: "jarvis", show_advanced_options: false }});
          const done = await hass.callApi("POST", `config/config_entries/flow/${{flow.flow_id}}`,
                                          {{ url }});
          return {{ type: done.type, title: done.title, entry: done.result?.entry_id ?? null }};
        }}""",
        f"tcp://127.0.0.1:{second_satellite.port}",
    )
    assert created["type"] == "create_entry", created
    assert created["title"] == "Bedroom satellite"
    try:
        assert wait_satellite_row(browser, "Bedroom", "true", timeout=30) == "Idle"
        assert satellite_row(browser, "Office")["connected"] == "true"
        # Its speaker volume and mute go to the satellite and come back in its state.
        speaker = sibling_entity(browser, "Bedroom", "media_player", "media_player")
        muted = sibling_entity(browser, "Bedroom", "switch", "muted")
        call_service(
            browser, "media_player", "volume_set", {"entity_id": speaker, "volume_level": 0.3}
        )
        wait_sub(browser, "Bedroom", "Bedroom satellite · Volume 30 %")
        call_service(browser, "switch", "turn_on", {"entity_id": muted})
        wait_sub(browser, "Bedroom", "Bedroom satellite · Muted · Volume 30 %")
        call_service(browser, "switch", "turn_off", {"entity_id": muted})
        wait_sub(browser, "Bedroom", "Bedroom satellite · Volume 30 %")

        second_satellite.freeze()
        try:
            # Jarvis's link pings every 5 s and gives up on a connection silent for 15 s.
            assert wait_satellite_row(browser, "Bedroom", "false", timeout=45) == "Disconnected"
            assert satellite_row(browser, "Office") == {
                "connected": "true",
                "activity": "idle",
                "chip": "Idle",
                "sub": "Demo satellite · Mic volume ×1.0",
            }
            send_text(browser, "turn on the kitchen light")
            assert last_exchange_done(browser)["reply"] == "Turned on the light"
            wait_state(browser, "light.kitchen_light", "on")
        finally:
            second_satellite.thaw()
        # The link retries (1 s doubling to 15 s): the satellite is back without a reload.
        assert wait_satellite_row(browser, "Bedroom", "true", timeout=60) == "Idle"
    finally:
        browser.evaluate(
            f"""(entry) => entry && {HASS}.callApi("DELETE", `config/config_entries/entry/${{entry}}`)""",
            created["entry"],
        )
    browser.wait_for(
        in_card("""return card.querySelectorAll(".satellite").length === 1;"""), timeout=20
    )
    assert card_errors(browser) == []


def test_home_assistant_restarts(browser: Browser, demo_ui: DemoUi) -> None:
    """Settings → Restart: the card says the connection is lost, then comes back by itself."""
    # HA rebuilds its dashboard after reconnecting: follow whichever card element is shown.
    poll(browser, "banner", "return !!card.querySelector('.banner');")
    turns_before = browser.evaluate(in_card("return card.querySelectorAll('.turn').length;"))
    browser.evaluate(
        f"() => {{ {HASS}.callService('homeassistant', 'restart').catch(() => null); }}"
    )
    browser.wait_for("() => window.banner.includes(true)", timeout=30)
    back = browser.wait_for(
        in_card("""
        const sat = card.querySelector(".satellite");
        return window.banner.at(-1) === false && window.banner.length >= 3 &&
          sat.dataset.activity === "idle" && card.querySelector(".server.ok") &&
          { turns: card.querySelectorAll(".turn").length };"""),
        timeout=120,
    )
    # HA forgets its pipeline runs when it restarts; the card keeps the ones it showed.
    assert back == {"turns": turns_before}
    send_text(browser, "turn on the kitchen light")
    assert last_exchange_done(browser, timeout=30)["reply"] == "Turned on the light"
    assert "Home Assistant restarted." in demo_ui.log_tail()
    assert card_errors(browser) == []


def test_a_user_who_is_not_an_administrator(browser: Browser, demo_ui: DemoUi) -> None:
    """A family member's login: the card shows the home and answers; past requests, which HA
    keeps for administrators only, give way to a note."""
    user = browser.evaluate(
        f"""async () => {{
          const hass = {HASS};
          const {{ user }} = await hass.callWS({{ type: "config/auth/create", name: "Guest",
                                                group_ids: ["system-users"], local_only: false }});
          await hass.callWS({{ type: "config/auth_provider/homeassistant/create",
                              user_id: user.id, username: "guest", password: "guest-password" }});
          return user.id;
        }}"""
    )
    assert user
    browser.new_session(f"{demo_ui.url}/", log_in(demo_ui.url, "guest", "guest-password"))
    seen = browser.wait_for(
        in_card("""
        const sat = card.querySelector(".satellite");
        const note = text(card.querySelector(".turns .muted-text"));
        // Until HA's pipelines are listed the card has no requests yet: wait for its verdict.
        if (!sat || !card.querySelector(".server.ok") || note === "No request yet.") return null;
        return { admin: hass.user.is_admin, room: text(sat.querySelector(".name")),
                 activity: sat.dataset.activity, note };"""),
        timeout=60,
    )
    assert seen == {
        "admin": False,
        "room": "Office",
        "activity": "idle",
        "note": "Only an administrator can see past requests.",
    }
    assert state_of(browser, "light.kitchen_light") == "on"
    send_text(browser, "turn off the kitchen light")
    assert last_exchange_done(browser)["reply"] == "Turned off the light"
    wait_state(browser, "light.kitchen_light", "off")
    assert card_errors(browser) == []
