/** The card's options (its YAML) and how they are read. */

export const CARD_TYPE = "jarvis-card";

export interface JarvisCardConfig {
  type: string;
  title?: string;
  /** assist_satellite entities to show; empty or absent: all of them. */
  satellites?: string[];
  /** Conversation agent (a `conversation.*` entity) for the text box. */
  agent?: string;
  /** Assist pipeline id for typed and spoken requests; absent: HA's preferred pipeline. */
  pipeline?: string;
  /** How many past requests to show (0 hides the list). */
  turns?: number;
  show_agents?: boolean;
  show_talk?: boolean;
}

export interface ResolvedConfig {
  title: string | null;
  satellites: string[];
  agent: string | null;
  pipeline: string | null;
  turns: number;
  showAgents: boolean;
  showTalk: boolean;
}

export const DEFAULT_TURNS = 5;
export const MAX_TURNS = 20;

export class ConfigError extends Error {}

function stringOrNull(value: unknown, name: string): string | null {
  if (value === undefined || value === null || value === "") return null;
  if (typeof value !== "string") throw new ConfigError(`${name} must be a text`);
  return value;
}

/** Check and normalise a config; throws ConfigError with a message HA shows on the card. */
export function resolveConfig(config: unknown): ResolvedConfig {
  if (typeof config !== "object" || config === null) throw new ConfigError("Invalid configuration");
  const raw = config as Record<string, unknown>;
  const satellites = raw.satellites ?? [];
  if (
    !Array.isArray(satellites) ||
    !satellites.every((id) => typeof id === "string" && id.startsWith("assist_satellite."))
  ) {
    throw new ConfigError("satellites must be a list of assist_satellite entities");
  }
  const agent = stringOrNull(raw.agent, "agent");
  if (agent !== null && !agent.startsWith("conversation.")) {
    throw new ConfigError("agent must be a conversation entity");
  }
  let turns = DEFAULT_TURNS;
  if (raw.turns !== undefined && raw.turns !== null && raw.turns !== "") {
    const value = Number(raw.turns);
    if (!Number.isInteger(value) || value < 0) {
      throw new ConfigError("turns must be a whole number ≥ 0");
    }
    turns = Math.min(MAX_TURNS, value);
  }
  return {
    title: stringOrNull(raw.title, "title"),
    satellites: [...(satellites as string[])],
    agent,
    pipeline: stringOrNull(raw.pipeline, "pipeline"),
    turns,
    showAgents: raw.show_agents !== false,
    showTalk: raw.show_talk !== false,
  };
}

/** Drop empty options (what the visual editor writes back), keeping `type` first. */
export function cleanConfig(config: JarvisCardConfig): JarvisCardConfig {
  const clean: JarvisCardConfig = { type: config.type };
  for (const [key, value] of Object.entries(config)) {
    if (key === "type") continue;
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value) && value.length === 0) continue;
    (clean as unknown as Record<string, unknown>)[key] = value;
  }
  return clean;
}
