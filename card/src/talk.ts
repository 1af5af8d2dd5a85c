/**
 * Talking to Jarvis from the card: typed requests (streamed when HA streams them) and
 * push-to-talk through HA's Assist pipeline.
 */

import { isHassError, type Unsubscribe } from "./ha-types.js";
import type { ChatEvent, PipelineEvent, PipelineInfo, PipelineList } from "./pipeline-types.js";
import { ReplyStream } from "./stream.js";
import type { HassApi } from "./ws.js";

/**
 * How a typed request reaches Jarvis:
 * - `chat`: the Jarvis integration's `jarvis/chat` subscription, which streams the reply's words
 *   and tool calls as they come (a Jarvis agent; the card ships with the integration, so the
 *   command is there);
 * - `conversation`: HA's `conversation/process` (one answer, not streamed), for an agent that is
 *   not Jarvis's, or should HA not know `jarvis/chat`.
 * Spoken requests go through HA's Assist pipeline (`pipeline`).
 */
export type Route = "chat" | "conversation" | "pipeline";

export function choosePipeline(
  list: PipelineList | null,
  wanted: string | null,
): PipelineInfo | null {
  if (list === null) return null;
  const id = wanted ?? list.preferred_pipeline;
  return list.pipelines.find((pipeline) => pipeline.id === id) ?? null;
}

/** The route of a typed request to `agent` (null: the first Jarvis agent). */
export function chooseRoute(
  agent: string | null,
  jarvisAgents: readonly string[],
): "chat" | "conversation" {
  const jarvis = agent === null ? jarvisAgents.length > 0 : jarvisAgents.includes(agent);
  return jarvis ? "chat" : "conversation";
}

/** HA's answer to a websocket command it does not know. */
export function isUnknownCommand(error: unknown): boolean {
  return isHassError(error) && error.code === "unknown_command";
}

export type ExchangeStatus = "sending" | "listening" | "thinking" | "speaking" | "done" | "error";

/** One request from the card and its (streamed) reply. */
export interface Exchange {
  id: number;
  said: string;
  voice: boolean;
  route: Route;
  status: ExchangeStatus;
  reply: ReplyStream;
  error: string | null;
  /** Reply audio (voice requests), relative to HA's URL. */
  audioUrl: string | null;
}

let nextId = 1;

export function newExchange(said: string, route: Route, voice: boolean): Exchange {
  return {
    id: nextId++,
    said,
    voice,
    route,
    status: voice ? "listening" : "sending",
    reply: new ReplyStream(),
    error: null,
    audioUrl: null,
  };
}

/**
 * Apply one pipeline event to an exchange; returns true once the run is over (run-end or error).
 * The STT result fills in what was said; intent deltas stream the reply.
 */
export function applyPipelineEvent(exchange: Exchange, event: PipelineEvent): boolean {
  switch (event.type) {
    case "stt-vad-end":
      exchange.status = "thinking";
      return false;
    case "stt-end":
      exchange.said = event.data.stt_output.text;
      exchange.status = "thinking";
      return false;
    case "intent-start":
      if (exchange.status === "sending" || exchange.status === "listening") {
        exchange.status = "thinking";
      }
      return false;
    case "intent-progress":
      if (event.data.chat_log_delta !== undefined) exchange.reply.addDelta(event.data.chat_log_delta);
      return false;
    case "intent-end":
      exchange.reply.finish(event.data.intent_output);
      if (!exchange.voice) exchange.status = "done";
      return false;
    case "tts-end":
      exchange.audioUrl = event.data.tts_output.url;
      exchange.status = "speaking";
      return false;
    case "error":
      exchange.error = event.data.message || event.data.code;
      exchange.status = "error";
      return true;
    case "run-end":
      if (exchange.status !== "error" && exchange.status !== "speaking") exchange.status = "done";
      return true;
    default:
      return false;
  }
}

export interface TextRequest {
  text: string;
  route: "chat" | "conversation";
  /** The agent; null: Jarvis's first agent (chat) or `fallbackAgent` (conversation). */
  agent: string | null;
  /** The agent HA's conversation API gets when `agent` is null (Jarvis's first agent). */
  fallbackAgent: string | null;
  conversationId: string | null;
  language: string;
}

/** Send a typed request; `onChange` is called as the reply streams. Resolves when it is over. */
export async function sendText(
  api: HassApi,
  request: TextRequest,
  onChange: (exchange: Exchange) => void,
): Promise<Exchange> {
  const exchange = newExchange(request.text, request.route, false);
  onChange(exchange);
  try {
    let answered = false;
    if (request.route === "chat") {
      try {
        await chat(api, request, exchange, onChange);
        answered = true;
      } catch (error: unknown) {
        if (!isUnknownCommand(error)) throw error;
        exchange.route = "conversation"; // an integration without the chat API
      }
    }
    if (!answered) {
      // The agent's own id: HA's conversation API would otherwise pick HA's default agent.
      const agent = request.agent ?? request.fallbackAgent;
      const result = await api.processConversation(
        request.text,
        agent,
        request.conversationId,
        request.language,
      );
      exchange.reply.finish(result);
      exchange.status = result.response.response_type === "error" ? "error" : "done";
    }
  } catch (error: unknown) {
    exchange.status = "error";
    exchange.error = errorText(error);
  }
  onChange(exchange);
  return exchange;
}

/** Apply one `jarvis/chat` event; returns true once the turn is over (final or error). */
export function applyChatEvent(exchange: Exchange, event: ChatEvent): boolean {
  if (event.type === "error") {
    exchange.status = "error";
    exchange.error = event.message || event.code;
    return true;
  }
  exchange.reply.addChatEvent(event);
  if (event.type === "final") {
    exchange.status = event.error ? "error" : "done";
    return true;
  }
  if (exchange.status === "sending") exchange.status = "thinking";
  return false;
}

function chat(
  api: HassApi,
  request: TextRequest,
  exchange: Exchange,
  onChange: (exchange: Exchange) => void,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let unsubscribe: Unsubscribe | null = null;
    let over = false;
    // HA ends the subscription itself after the last event; this only tidies the client's side.
    const tidy = (): void => {
      void unsubscribe?.().catch(() => undefined);
    };
    api
      .chat(
        {
          text: request.text,
          agent_id: request.agent,
          language: request.language,
          conversation_id: request.conversationId,
        },
        (event) => {
          if (over) return;
          over = applyChatEvent(exchange, event);
          onChange(exchange);
          if (over) {
            tidy();
            resolve();
          }
        },
      )
      .then((unsub) => {
        unsubscribe = unsub;
        if (over) tidy();
      }, reject);
  });
}

export function errorText(error: unknown): string {
  if (typeof error === "object" && error !== null && "message" in error) {
    return String((error as { message: unknown }).message);
  }
  return String(error);
}
