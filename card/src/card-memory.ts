/**
 * What a card has seen and said, kept by the page rather than by the card element.
 *
 * HA's frontend builds new card elements whenever it rebuilds a dashboard: switching views,
 * editing, and after reconnecting to a restarted HA. The last requests (which HA forgets when it
 * restarts), the conversation in the text box and a reply still streaming belong to the card as
 * the user sees it, so they live here, shared by the elements of one card configuration.
 */

import type { Exchange } from "./talk.js";
import type { Turn } from "./turns.js";

export class CardMemory {
  turns: Turn[] = [];
  exchanges: Exchange[] = [];
  conversationId: string | null = null;
  private readonly listeners = new Set<() => void>();

  /** Call `listener` after each change; returns how to stop. */
  listen(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tell every element showing this memory that it changed. */
  changed(): void {
    for (const listener of this.listeners) listener();
  }
}

const memories = new Map<string, CardMemory>();

/** The memory of the card with this configuration (one per distinct configuration). */
export function memoryFor(config: object): CardMemory {
  const key = JSON.stringify(config);
  let memory = memories.get(key);
  if (memory === undefined) {
    memory = new CardMemory();
    memories.set(key, memory);
  }
  return memory;
}
