/** A stand-in for HA's `hass` object: answers websocket commands from a table, records them. */

import type { Connection, HomeAssistant, MessageBase, Unsubscribe } from "../src/ha-types.js";

export type Answer = (message: MessageBase) => unknown;

export interface FakeHass extends HomeAssistant {
  sent: MessageBase[];
  binary: Uint8Array[];
  unsubscribed: number;
  /** Subscriptions still open, by type: call `emit` to push messages to them. */
  emit(type: string, message: unknown): void;
}

export function fakeHass(answers: Record<string, Answer>, onSubscribe?: Record<string, (emit: (m: unknown) => void, message: MessageBase) => void>): FakeHass {
  const subscribers = new Map<string, ((message: unknown) => void)[]>();
  const sent: MessageBase[] = [];
  const binary: Uint8Array[] = [];
  const hass = {
    sent,
    binary,
    unsubscribed: 0,
    states: {},
    entities: {},
    devices: {},
    areas: {},
    language: "en",
    connected: true,
    async callWS<T>(message: MessageBase): Promise<T> {
      sent.push(message);
      const answer = answers[message.type];
      if (answer === undefined) throw { code: "unknown_command", message: "Unknown command." };
      return answer(message) as T;
    },
    emit(type: string, message: unknown) {
      for (const callback of subscribers.get(type) ?? []) callback(message);
    },
  } as unknown as FakeHass;
  const connection: Connection = {
    connected: true,
    socket: { send: (data: Uint8Array) => binary.push(data) } as unknown as WebSocket,
    async subscribeEvents(): Promise<Unsubscribe> {
      throw new Error("not used");
    },
    async subscribeMessage<T>(callback: (message: T) => void, message: MessageBase): Promise<Unsubscribe> {
      sent.push(message);
      const list = subscribers.get(message.type) ?? [];
      const cb = callback as (m: unknown) => void;
      list.push(cb);
      subscribers.set(message.type, list);
      onSubscribe?.[message.type]?.((m) => cb(m), message);
      return async () => {
        hass.unsubscribed += 1;
        subscribers.set(message.type, (subscribers.get(message.type) ?? []).filter((c) => c !== cb));
      };
    },
    addEventListener() {},
    removeEventListener() {},
  };
  hass.connection = connection;
  return hass;
}
