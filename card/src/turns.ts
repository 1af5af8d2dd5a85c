/**
 * One request ("turn") as HA's pipeline debug record tells it: what was heard, the reply, the
 * tools that ran, and how long each stage took.
 */

import type { IntentTarget, PipelineEvent } from "./pipeline-types.js";
import { ReplyStream } from "./stream.js";

/** Stages in the order a request goes through them. */
export const STAGES = ["wake", "speech", "stt", "intent", "tts"] as const;
export type Stage = (typeof STAGES)[number];

/** One stage's span in milliseconds since the run started. */
export interface StageSpan {
  stage: Stage;
  startMs: number;
  endMs: number;
}

export interface Turn {
  id: string;
  pipelineId: string;
  /** When the run started (ISO time). */
  startedAt: string;
  /** The satellite entity that ran it, when a satellite did. */
  satelliteId: string | null;
  deviceId: string | null;
  /** What was heard (STT) or typed. */
  heard: string | null;
  reply: string | null;
  /** Names of the tools the model called, in order. */
  tools: string[];
  /** What the request acted on (HA's intent targets). */
  targets: IntentTarget[];
  processedLocally: boolean | null;
  spans: StageSpan[];
  totalMs: number | null;
  error: string | null;
  finished: boolean;
}

function timeMs(event: PipelineEvent): number | null {
  if (event.timestamp === undefined) return null;
  const value = Date.parse(event.timestamp);
  return Number.isNaN(value) ? null : value;
}

/** A turn from a run's events (debug record or live stream); `null` for an empty run. */
export function turnFromEvents(
  id: string,
  pipelineId: string,
  events: readonly PipelineEvent[],
): Turn | null {
  const first = events[0];
  if (first === undefined) return null;
  const origin = timeMs(first);
  const at = new Map<string, number>();
  const reply = new ReplyStream();
  const turn: Turn = {
    id,
    pipelineId,
    startedAt: first.timestamp ?? "",
    satelliteId: null,
    deviceId: null,
    heard: null,
    reply: null,
    tools: [],
    targets: [],
    processedLocally: null,
    spans: [],
    totalMs: null,
    error: null,
    finished: false,
  };
  for (const event of events) {
    const ms = timeMs(event);
    if (ms !== null && origin !== null && !at.has(event.type)) at.set(event.type, ms - origin);
    switch (event.type) {
      case "run-start":
        turn.satelliteId = event.data.satellite_id ?? null;
        break;
      case "stt-end":
        turn.heard = event.data.stt_output.text;
        break;
      case "intent-start":
        turn.heard ??= event.data.intent_input;
        turn.satelliteId ??= event.data.satellite_id ?? null;
        turn.deviceId = event.data.device_id ?? null;
        break;
      case "intent-progress":
        if (event.data.chat_log_delta !== undefined) reply.addDelta(event.data.chat_log_delta);
        break;
      case "intent-end":
        reply.finish(event.data.intent_output);
        turn.processedLocally = event.data.processed_locally ?? null;
        turn.targets = event.data.intent_output.response.data?.success ?? [];
        break;
      case "error":
        turn.error = event.data.message || event.data.code;
        break;
      case "run-end":
        turn.finished = true;
        break;
      default:
        break;
    }
  }
  turn.reply = reply.text || null;
  turn.tools = reply.tools;
  turn.spans = stageSpans(at);
  const end = at.get("run-end");
  turn.totalMs = end ?? null;
  return turn;
}

const STAGE_EVENTS: Record<Stage, [string, string]> = {
  wake: ["wake_word-start", "wake_word-end"],
  // The user talking: from the start of STT (or the first voice) until the end of speech.
  speech: ["stt-start", "stt-vad-end"],
  // Transcription time after the end of speech (streaming STT has mostly decoded by then).
  stt: ["stt-vad-end", "stt-end"],
  intent: ["intent-start", "intent-end"],
  tts: ["tts-start", "tts-end"],
};

function stageSpans(at: ReadonlyMap<string, number>): StageSpan[] {
  const spans: StageSpan[] = [];
  for (const stage of STAGES) {
    const [firstEvent, endEvent] = STAGE_EVENTS[stage];
    let startEvent = firstEvent;
    // Without VAD events (audio ended by the client), STT is one stage from start to end.
    if (stage === "speech" && !at.has("stt-vad-end")) continue;
    if (stage === "stt" && !at.has("stt-vad-end")) startEvent = "stt-start";
    const start = at.get(startEvent);
    const end = at.get(endEvent);
    if (start === undefined || end === undefined || end < start) continue;
    spans.push({ stage, startMs: start, endMs: end });
  }
  return spans;
}

/** A stage's bar: where it starts and how wide it is, in % of the whole run. */
export interface StageBar {
  stage: Stage;
  ms: number;
  offsetPct: number;
  widthPct: number;
}

/** Minimum bar width (%), so a stage of a few ms is still visible. */
export const MIN_BAR_PCT = 1.5;

/** Bars of a turn's stages on one time axis (0 → the run's end, or its last stage). */
export function stageBars(turn: Pick<Turn, "spans" | "totalMs">): StageBar[] {
  const lastEnd = Math.max(0, ...turn.spans.map((span) => span.endMs));
  const total = Math.max(turn.totalMs ?? 0, lastEnd);
  if (total <= 0) {
    return turn.spans.map((span) => ({
      stage: span.stage,
      ms: 0,
      offsetPct: 0,
      widthPct: MIN_BAR_PCT,
    }));
  }
  return turn.spans.map((span) => {
    const offsetPct = Math.min(100 - MIN_BAR_PCT, (span.startMs / total) * 100);
    const widthPct = Math.min(
      100 - offsetPct,
      Math.max(MIN_BAR_PCT, ((span.endMs - span.startMs) / total) * 100),
    );
    return {
      stage: span.stage,
      ms: span.endMs - span.startMs,
      offsetPct: round(offsetPct),
      widthPct: round(widthPct),
    };
  });
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** "850 ms", "1.2 s", "12 s". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

/** Newest first, at most `limit`; a run seen again replaces its older copy. */
export function mergeTurns(known: readonly Turn[], fresh: readonly Turn[], limit: number): Turn[] {
  const byId = new Map<string, Turn>();
  for (const turn of [...known, ...fresh]) byId.set(turn.id, turn);
  return [...byId.values()]
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0))
    .slice(0, Math.max(0, limit));
}
