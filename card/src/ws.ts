/**
 * The card's typed websocket layer over HA's `hass` object: one method per HA command it uses,
 * with the shapes HA 2026.10 sends back.
 */

import type { HomeAssistant, MessageBase, Unsubscribe } from "./ha-types.js";
import type {
  ChatEvent,
  ConversationResult,
  PipelineEvent,
  PipelineList,
  PipelineRunDebug,
  PipelineRunList,
} from "./pipeline-types.js";

export interface ChatRequest {
  text: string;
  agent_id?: string | null;
  language?: string | null;
  conversation_id?: string | null;
  device_id?: string | null;
}

/** `subscribe_entities` messages (compressed states: `s` is the state). */
export interface CompressedState {
  s?: string;
  lc?: number;
  lu?: number;
}
export interface EntitiesMessage {
  a?: Record<string, CompressedState>;
  c?: Record<string, { "+"?: CompressedState }>;
  r?: string[];
}

/** Apply one `subscribe_entities` message to `states` (entity id → state); returns the changed ids. */
export function applyEntitiesMessage(states: Map<string, string>, message: EntitiesMessage): string[] {
  const changed: string[] = [];
  for (const [id, state] of Object.entries(message.a ?? {})) {
    if (state.s !== undefined && states.get(id) !== state.s) {
      states.set(id, state.s);
      changed.push(id);
    }
  }
  for (const [id, diff] of Object.entries(message.c ?? {})) {
    const next = diff["+"]?.s;
    if (next !== undefined && states.get(id) !== next) {
      states.set(id, next);
      changed.push(id);
    }
  }
  for (const id of message.r ?? []) {
    if (states.delete(id)) changed.push(id);
  }
  return changed;
}

export interface RunOptions {
  start_stage: "wake_word" | "stt" | "intent" | "tts";
  end_stage: "wake_word" | "stt" | "intent" | "tts";
  input: Record<string, unknown>;
  pipeline?: string;
  conversation_id?: string | null;
  device_id?: string | null;
  timeout?: number;
}

export class HassApi {
  /** `hass` is replaced on every state change: always read the current one. */
  constructor(private readonly getHass: () => HomeAssistant) {}

  private get hass(): HomeAssistant {
    return this.getHass();
  }

  listPipelines(): Promise<PipelineList> {
    return this.hass.callWS<PipelineList>({ type: "assist_pipeline/pipeline/list" });
  }

  /** Debug runs HA keeps in memory for a pipeline (admin only; lost when HA restarts). */
  listRuns(pipelineId: string): Promise<PipelineRunList> {
    return this.hass.callWS<PipelineRunList>({
      type: "assist_pipeline/pipeline_debug/list",
      pipeline_id: pipelineId,
    });
  }

  getRun(pipelineId: string, runId: string): Promise<PipelineRunDebug> {
    return this.hass.callWS<PipelineRunDebug>({
      type: "assist_pipeline/pipeline_debug/get",
      pipeline_id: pipelineId,
      pipeline_run_id: runId,
    });
  }

  /** Run a pipeline; `onEvent` gets each event. Resolves once HA accepted the run. */
  runPipeline(options: RunOptions, onEvent: (event: PipelineEvent) => void): Promise<Unsubscribe> {
    return this.hass.connection.subscribeMessage<PipelineEvent>(
      onEvent,
      { type: "assist_pipeline/run", ...options },
      { resubscribe: false },
    );
  }

  /** The Jarvis integration's chat API: the reply's events as they happen (not re-sent on reconnect). */
  chat(request: ChatRequest, onEvent: (event: ChatEvent) => void): Promise<Unsubscribe> {
    const message: MessageBase = { type: "jarvis/chat", text: request.text };
    for (const key of ["agent_id", "language", "conversation_id", "device_id"] as const) {
      const value = request[key];
      if (value !== null && value !== undefined) message[key] = value;
    }
    return this.hass.connection.subscribeMessage<ChatEvent>(onEvent, message, { resubscribe: false });
  }

  /** HA's conversation API (one answer, not streamed). */
  processConversation(
    text: string,
    agentId: string | null,
    conversationId: string | null,
    language: string,
  ): Promise<ConversationResult> {
    const message: MessageBase = { type: "conversation/process", text, language };
    if (agentId !== null) message.agent_id = agentId;
    if (conversationId !== null) message.conversation_id = conversationId;
    return this.hass.callWS<ConversationResult>(message);
  }

  /** Follow the states of some entities (`subscribe_entities`, re-subscribed after a reconnect). */
  subscribeStates(entityIds: readonly string[], onMessage: (message: EntitiesMessage) => void): Promise<Unsubscribe> {
    return this.hass.connection.subscribeMessage<EntitiesMessage>(onMessage, {
      type: "subscribe_entities",
      entity_ids: [...entityIds],
    });
  }

  /** Send 16-bit PCM to a pipeline's binary handler (first byte: the handler id). */
  sendAudio(handlerId: number, pcm: Int16Array): void {
    const socket = this.hass.connection.socket;
    if (socket === null || socket === undefined) return;
    socket.send(audioMessage(handlerId, pcm));
  }

  /** The end of the audio: the handler id alone. */
  endAudio(handlerId: number): void {
    this.hass.connection.socket?.send(new Uint8Array([handlerId]));
  }
}

/** A binary websocket message for HA: the handler id, then the PCM bytes (little-endian). */
export function audioMessage(handlerId: number, pcm: Int16Array): Uint8Array {
  const message = new Uint8Array(1 + pcm.byteLength);
  message[0] = handlerId;
  message.set(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength), 1);
  return message;
}
