/**
 * The part of Home Assistant's frontend objects the card uses, typed.
 *
 * HA hands every card a `hass` object (home-assistant-frontend's `HomeAssistant`); its
 * `connection` is a home-assistant-js-websocket `Connection`. Only what the card reads or calls is
 * declared here, with the shapes HA 2026.10 sends.
 */

export interface HassEntityAttributes {
  friendly_name?: string;
  unit_of_measurement?: string;
  [key: string]: unknown;
}

export interface HassEntity {
  entity_id: string;
  state: string;
  attributes: HassEntityAttributes;
  last_changed: string;
  last_updated: string;
}

export type HassEntities = Record<string, HassEntity>;

/** `hass.entities[id]`: the entity registry's display entry. */
export interface EntityRegistryDisplayEntry {
  entity_id: string;
  name?: string | null;
  device_id?: string | null;
  area_id?: string | null;
  platform?: string;
  translation_key?: string;
  entity_category?: "config" | "diagnostic" | null;
  hidden?: boolean;
}

/** `hass.devices[id]`. */
export interface DeviceRegistryEntry {
  id: string;
  name: string | null;
  name_by_user: string | null;
  area_id: string | null;
  model?: string | null;
}

/** `hass.areas[id]`. */
export interface AreaRegistryEntry {
  area_id: string;
  name: string;
}

export interface MessageBase {
  type: string;
  [key: string]: unknown;
}

export type Unsubscribe = () => Promise<void>;

export type ConnectionEvent = "ready" | "disconnected" | "reconnect-error";

/** home-assistant-js-websocket's Connection, as far as the card uses it. */
export interface Connection {
  readonly connected: boolean;
  socket?: WebSocket | null;
  subscribeEvents<T>(callback: (event: T) => void, eventType?: string): Promise<Unsubscribe>;
  subscribeMessage<T>(
    callback: (message: T) => void,
    subscribeMessage: MessageBase,
    options?: { resubscribe?: boolean },
  ): Promise<Unsubscribe>;
  addEventListener(event: ConnectionEvent, listener: (conn: Connection) => void): void;
  removeEventListener(event: ConnectionEvent, listener: (conn: Connection) => void): void;
}

export interface HassUser {
  id: string;
  name: string;
  is_admin: boolean;
}

/** The `hass` object HA gives a card. */
export interface HomeAssistant {
  connection: Connection;
  connected: boolean;
  states: HassEntities;
  entities: Record<string, EntityRegistryDisplayEntry>;
  devices: Record<string, DeviceRegistryEntry>;
  areas: Record<string, AreaRegistryEntry>;
  language: string;
  locale?: { language: string };
  themes?: { darkMode?: boolean };
  user?: HassUser;
  callWS<T>(message: MessageBase): Promise<T>;
  hassUrl?(path?: string): string;
}

/** Error object home-assistant-js-websocket rejects with. */
export interface HassError {
  code: string | number;
  message: string;
}

export function isHassError(value: unknown): value is HassError {
  return typeof value === "object" && value !== null && "code" in value && "message" in value;
}

/** What `window.customCards` entries look like (HA's card picker). */
export interface CustomCardEntry {
  type: string;
  name: string;
  description: string;
  preview?: boolean;
  documentationURL?: string;
}

declare global {
  interface Window {
    customCards?: CustomCardEntry[];
  }
}
