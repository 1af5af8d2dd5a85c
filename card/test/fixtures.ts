/** Real pipeline debug runs recorded from the demo stack (HA 2026.10.4), as HA's websocket sends them. */

import type { PipelineEvent } from "../src/pipeline-types.js";
import llmRun from "./fixtures/llm-run.json";
import voiceRun from "./fixtures/voice-run.json";

export interface RecordedRun {
  pipeline_run_id: string;
  events: PipelineEvent[];
}

/** "hey jarvis, turn off the kitchen light" said to the office satellite; a local intent. */
export const VOICE_RUN = voiceRun as unknown as RecordedRun;
/** A typed request the model answered with a tool call, then streamed text (fake Ollama). */
export const LLM_RUN = llmRun as unknown as RecordedRun;

export const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
