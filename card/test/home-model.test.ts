import { describe, expect, it } from "vitest";

import type { HomeAssistant } from "../src/ha-types.js";
import {
  activityOf,
  homeSignature,
  jarvisAgents,
  jarvisServers,
  satelliteIds,
  satelliteView,
} from "../src/home-model.js";

type Hass = Pick<HomeAssistant, "states" | "entities" | "devices" | "areas">;

const state = (entity_id: string, value: string, attributes: Record<string, unknown> = {}) => ({
  entity_id,
  state: value,
  attributes,
  last_changed: "",
  last_updated: "",
});

/** The demo home as HA's frontend sees it (entity ids and translation keys as HA 2026.10 makes them). */
function demoHass(): Hass {
  const states = [
    state("assist_satellite.office_demo_satellite", "idle", { friendly_name: "Demo satellite" }),
    state("switch.office_demo_satellite_mute", "off"),
    state("number.office_demo_satellite_mic_volume", "1.0"),
    state("binary_sensor.ollama_127_0_0_1_42121_reachable", "on"),
    state("conversation.jarvis", "2026-11-27T15:50:46+00:00"),
    state("sensor.jarvis_response_latency", "0.333857999999964"),
    state("sensor.jarvis_generation_speed", "84.0"),
    state("assist_satellite.kitchen", "responding"),
    state("media_player.kitchen_speaker", "idle", { volume_level: 0.35, is_volume_muted: true }),
  ];
  return {
    states: Object.fromEntries(states.map((s) => [s.entity_id, s])),
    entities: {
      "assist_satellite.office_demo_satellite": { entity_id: "assist_satellite.office_demo_satellite", device_id: "sat1", platform: "wyoming" },
      "switch.office_demo_satellite_mute": { entity_id: "switch.office_demo_satellite_mute", device_id: "sat1", platform: "wyoming", translation_key: "mute" },
      "number.office_demo_satellite_mic_volume": { entity_id: "number.office_demo_satellite_mic_volume", device_id: "sat1", platform: "wyoming", translation_key: "volume_multiplier" },
      "binary_sensor.ollama_127_0_0_1_42121_reachable": { entity_id: "binary_sensor.ollama_127_0_0_1_42121_reachable", device_id: "server", platform: "jarvis", translation_key: "server_reachable" },
      "conversation.jarvis": { entity_id: "conversation.jarvis", device_id: "agent", platform: "jarvis" },
      "sensor.jarvis_response_latency": { entity_id: "sensor.jarvis_response_latency", device_id: "agent", platform: "jarvis", translation_key: "response_latency" },
      "sensor.jarvis_generation_speed": { entity_id: "sensor.jarvis_generation_speed", device_id: "agent", platform: "jarvis", translation_key: "tokens_per_second" },
      "assist_satellite.kitchen": { entity_id: "assist_satellite.kitchen", device_id: "sat2", platform: "jarvis", area_id: "kitchen" },
      "media_player.kitchen_speaker": { entity_id: "media_player.kitchen_speaker", device_id: "sat2", platform: "jarvis" },
    },
    devices: {
      sat1: { id: "sat1", name: "Demo satellite", name_by_user: null, area_id: "office" },
      sat2: { id: "sat2", name: "Kitchen satellite", name_by_user: "Kitchen Pi", area_id: null },
      server: { id: "server", name: "Ollama 127.0.0.1:42121", name_by_user: null, area_id: null },
      agent: { id: "agent", name: "Jarvis", name_by_user: null, area_id: null },
    },
    areas: {
      office: { area_id: "office", name: "Office" },
      kitchen: { area_id: "kitchen", name: "Kitchen" },
    },
  };
}

describe("activityOf", () => {
  it.each([
    ["idle", "idle"],
    ["listening", "listening"],
    ["processing", "thinking"],
    ["responding", "speaking"],
    ["unavailable", "disconnected"],
    [undefined, "disconnected"],
    ["unknown", "unknown"],
  ] as const)("%s → %s", (state, activity) => {
    expect(activityOf(state)).toBe(activity);
  });
});

describe("satelliteView", () => {
  it("a Wyoming satellite: device name, the device's room, mute switch and mic volume", () => {
    expect(satelliteView(demoHass(), "assist_satellite.office_demo_satellite")).toEqual({
      entityId: "assist_satellite.office_demo_satellite",
      name: "Demo satellite",
      area: "Office",
      connected: true,
      activity: "idle",
      muted: false,
      volume: { kind: "mic", factor: 1 },
      muteEntityId: "switch.office_demo_satellite_mute",
    });
  });

  it("a satellite driven by Jarvis: its media player's volume and mute, the entity's own room", () => {
    const view = satelliteView(demoHass(), "assist_satellite.kitchen");
    expect(view).toMatchObject({
      name: "Kitchen Pi",
      area: "Kitchen",
      activity: "speaking",
      muted: true,
      volume: { kind: "level", percent: 35 },
    });
  });

  it("a satellite driven by Jarvis: its microphone's mute switch wins over its speaker's mute", () => {
    const hass = demoHass();
    const add = (entityId: string, value: string, key: string, attributes = {}) => {
      hass.states[entityId] = state(entityId, value, attributes);
      hass.entities[entityId] = { entity_id: entityId, device_id: "sat2", platform: "jarvis", translation_key: key };
    };
    add("switch.kitchen_muted", "off", "muted");
    // Whatever order HA lists the device's entities in: the speaker after the switch here.
    const speaker = hass.entities["media_player.kitchen_speaker"]!;
    delete hass.entities["media_player.kitchen_speaker"];
    hass.entities["media_player.kitchen_speaker"] = speaker;
    expect(satelliteView(hass, "assist_satellite.kitchen")).toMatchObject({
      muted: false,
      muteEntityId: "switch.kitchen_muted",
      volume: { kind: "level", percent: 35 },
    });
    add("switch.kitchen_muted", "on", "muted");
    hass.states["media_player.kitchen_speaker"] = state("media_player.kitchen_speaker", "idle", {
      volume_level: 0.35,
      is_volume_muted: false,
    });
    expect(satelliteView(hass, "assist_satellite.kitchen").muted).toBe(true);
  });

  it("a disconnected satellite: unavailable, its other entities ignored", () => {
    const hass = demoHass();
    hass.states["assist_satellite.office_demo_satellite"] = state("assist_satellite.office_demo_satellite", "unavailable");
    hass.states["switch.office_demo_satellite_mute"] = state("switch.office_demo_satellite_mute", "unavailable");
    hass.states["number.office_demo_satellite_mic_volume"] = state("number.office_demo_satellite_mic_volume", "unavailable");
    expect(satelliteView(hass, "assist_satellite.office_demo_satellite")).toMatchObject({
      connected: false,
      activity: "disconnected",
      muted: null,
      volume: null,
    });
  });

  it("a satellite that is gone from HA entirely still shows, disconnected", () => {
    expect(satelliteView(demoHass(), "assist_satellite.gone")).toMatchObject({
      name: "gone",
      area: null,
      connected: false,
    });
  });
});

describe("satelliteIds", () => {
  it("all satellites by default, the configured ones otherwise", () => {
    expect(satelliteIds(demoHass(), undefined)).toEqual([
      "assist_satellite.kitchen",
      "assist_satellite.office_demo_satellite",
    ]);
    expect(satelliteIds(demoHass(), ["assist_satellite.kitchen"])).toEqual(["assist_satellite.kitchen"]);
  });
});

describe("Jarvis's server and agents", () => {
  it("reads the reachability sensor and the agent's figures", () => {
    const hass = demoHass();
    expect(jarvisServers(hass)).toEqual([
      { entityId: "binary_sensor.ollama_127_0_0_1_42121_reachable", name: "Ollama 127.0.0.1:42121", reachable: true },
    ]);
    expect(jarvisAgents(hass)).toEqual([
      { entityId: "conversation.jarvis", name: "Jarvis", latencyS: 0.333857999999964, tokensPerSecond: 84 },
    ]);
    expect(jarvisAgents(hass, "conversation.other")).toEqual([]);
    hass.states["binary_sensor.ollama_127_0_0_1_42121_reachable"] = state("binary_sensor.ollama_127_0_0_1_42121_reachable", "off");
    hass.states["sensor.jarvis_generation_speed"] = state("sensor.jarvis_generation_speed", "unknown");
    expect(jarvisServers(hass)[0]?.reachable).toBe(false);
    expect(jarvisAgents(hass)[0]?.tokensPerSecond).toBeNull();
  });

  it("changes its signature only when something it shows changes", () => {
    const hass = demoHass();
    const ids = satelliteIds(hass, undefined);
    const before = homeSignature(hass, ids);
    hass.states["sensor.living_room_temperature"] = state("sensor.living_room_temperature", "20");
    expect(homeSignature(hass, ids)).toBe(before);
    hass.states["assist_satellite.kitchen"] = state("assist_satellite.kitchen", "idle");
    expect(homeSignature(hass, ids)).not.toBe(before);
  });
});
