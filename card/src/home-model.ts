/**
 * What the card shows about the home, computed from `hass` (states + registries): satellites,
 * the Ollama servers' reachability and each Jarvis agent's figures.
 */

import type { HassEntity, HomeAssistant } from "./ha-types.js";

/** What a satellite is doing, in the card's words. */
export type Activity = "idle" | "listening" | "thinking" | "speaking" | "disconnected" | "unknown";

/** assist_satellite states (`AssistSatelliteState`) → activity. */
export function activityOf(state: string | undefined): Activity {
  switch (state) {
    case "idle":
      return "idle";
    case "listening":
      return "listening";
    case "processing":
      return "thinking";
    case "responding":
      return "speaking";
    case "unavailable":
    case undefined:
      return "disconnected";
    default:
      return "unknown";
  }
}

/** Speaker volume (a media player's level) or, for HA's Wyoming satellites, the mic's gain. */
export type Volume = { kind: "level"; percent: number } | { kind: "mic"; factor: number };

export interface SatelliteView {
  entityId: string;
  name: string;
  area: string | null;
  connected: boolean;
  activity: Activity;
  muted: boolean | null;
  volume: Volume | null;
  /** Entity that mutes the satellite (a switch), when it has one. */
  muteEntityId: string | null;
}

type Hass = Pick<HomeAssistant, "states" | "entities" | "devices" | "areas">;

function nameOf(hass: Hass, entityId: string, state: HassEntity | undefined): string {
  const entry = hass.entities[entityId];
  const device = entry?.device_id ? hass.devices[entry.device_id] : undefined;
  const friendly = state?.attributes.friendly_name;
  return (
    device?.name_by_user ??
    device?.name ??
    (typeof friendly === "string" ? friendly : undefined) ??
    entityId.split(".")[1] ??
    entityId
  );
}

/** The entity's area: its own, else its device's. */
export function areaOf(hass: Hass, entityId: string): string | null {
  const entry = hass.entities[entityId];
  const device = entry?.device_id ? hass.devices[entry.device_id] : undefined;
  const areaId = entry?.area_id ?? device?.area_id ?? null;
  return areaId !== null ? (hass.areas[areaId]?.name ?? null) : null;
}

/** Entities on the same device as `entityId`. */
function siblings(hass: Hass, entityId: string): string[] {
  const deviceId = hass.entities[entityId]?.device_id;
  if (!deviceId) return [];
  return Object.values(hass.entities)
    .filter((entry) => entry.device_id === deviceId && entry.entity_id !== entityId)
    .map((entry) => entry.entity_id);
}

function numberOf(value: unknown): number | null {
  const number = typeof value === "number" ? value : Number(value);
  return typeof value !== "boolean" && value !== null && value !== "" && Number.isFinite(number)
    ? number
    : null;
}

export function satelliteView(hass: Hass, entityId: string): SatelliteView {
  const state = hass.states[entityId];
  const activity = activityOf(state?.state);
  const view: SatelliteView = {
    entityId,
    name: nameOf(hass, entityId, state),
    area: areaOf(hass, entityId),
    connected: activity !== "disconnected",
    activity,
    muted: null,
    volume: null,
    muteEntityId: null,
  };
  // The microphone's mute switch says whether the satellite listens; a media player's mute (its
  // speaker) stands in only where there is no such switch.
  let speakerMuted: boolean | null = null;
  for (const sibling of siblings(hass, entityId)) {
    const other = hass.states[sibling];
    const key = hass.entities[sibling]?.translation_key;
    if (other === undefined || other.state === "unavailable") continue;
    const domain = sibling.split(".")[0];
    if (domain === "media_player") {
      // A satellite driven by Jarvis: its speaker is a media player.
      const level = numberOf(other.attributes.volume_level);
      if (level !== null) view.volume = { kind: "level", percent: Math.round(level * 100) };
      if (typeof other.attributes.is_volume_muted === "boolean")
        speakerMuted = other.attributes.is_volume_muted;
    } else if (domain === "switch" && (key === "mute" || key === "muted")) {
      view.muted = other.state === "on";
      view.muteEntityId = sibling;
    } else if (domain === "number" && view.volume === null) {
      const value = numberOf(other.state);
      if (value === null) continue;
      if (key === "volume_multiplier") view.volume = { kind: "mic", factor: value };
      else if (key === "volume") view.volume = { kind: "level", percent: Math.round(value) };
    }
  }
  if (view.muteEntityId === null) view.muted = speakerMuted;
  return view;
}

/** The satellites to show: the configured ones, else every assist_satellite entity. */
export function satelliteIds(hass: Hass, configured: readonly string[] | undefined): string[] {
  if (configured !== undefined && configured.length > 0) return [...configured];
  return Object.keys(hass.states)
    .filter((id) => id.startsWith("assist_satellite."))
    .sort();
}

export interface ServerView {
  entityId: string;
  name: string;
  reachable: boolean | null;
}

export interface AgentView {
  entityId: string;
  name: string;
  latencyS: number | null;
  tokensPerSecond: number | null;
}

/** Jarvis's Ollama servers (the `server_reachable` binary sensor of each entry). */
export function jarvisServers(hass: Hass): ServerView[] {
  return Object.values(hass.entities)
    .filter(
      (entry) =>
        entry.platform === "jarvis" &&
        entry.translation_key === "server_reachable" &&
        entry.entity_id.startsWith("binary_sensor."),
    )
    .map((entry) => {
      const state = hass.states[entry.entity_id];
      const device = entry.device_id ? hass.devices[entry.device_id] : undefined;
      return {
        entityId: entry.entity_id,
        name: device?.name_by_user ?? device?.name ?? entry.entity_id,
        reachable: state?.state === "on" ? true : state?.state === "off" ? false : null,
      };
    })
    .sort((a, b) => a.entityId.localeCompare(b.entityId));
}

/** Jarvis agents (conversation entities) with their latency and speed sensors. */
export function jarvisAgents(hass: Hass, only?: string): AgentView[] {
  const agents = Object.values(hass.entities).filter(
    (entry) =>
      entry.platform === "jarvis" &&
      entry.entity_id.startsWith("conversation.") &&
      (only === undefined || only === "" || entry.entity_id === only),
  );
  return agents
    .map((agent) => {
      const view: AgentView = {
        entityId: agent.entity_id,
        name: nameOf(hass, agent.entity_id, hass.states[agent.entity_id]),
        latencyS: null,
        tokensPerSecond: null,
      };
      for (const entry of Object.values(hass.entities)) {
        if (!agent.device_id || entry.device_id !== agent.device_id) continue;
        const value = numberOf(hass.states[entry.entity_id]?.state);
        if (entry.translation_key === "response_latency") view.latencyS = value;
        if (entry.translation_key === "tokens_per_second") view.tokensPerSecond = value;
      }
      return view;
    })
    .sort((a, b) => a.entityId.localeCompare(b.entityId));
}

/** A compact, comparable key of what the card shows from `hass` (to skip needless renders). */
export function homeSignature(hass: Hass, satellites: readonly string[], agent?: string): string {
  return JSON.stringify([
    satellites.map((id) => satelliteView(hass, id)),
    jarvisServers(hass),
    jarvisAgents(hass, agent),
  ]);
}
