/**
 * Messages of HA's Assist pipeline websocket API (homeassistant/components/assist_pipeline,
 * HA 2026.10): pipelines, debug runs and the events of a run.
 */

export interface PipelineInfo {
  id: string;
  name: string;
  language: string;
  conversation_engine: string;
  conversation_language?: string;
  stt_engine: string | null;
  tts_engine: string | null;
  prefer_local_intents?: boolean;
}

/** `assist_pipeline/pipeline/list`. */
export interface PipelineList {
  pipelines: PipelineInfo[];
  preferred_pipeline: string | null;
}

/** One row of `assist_pipeline/pipeline_debug/list`. */
export interface PipelineRunSummary {
  pipeline_run_id: string;
  timestamp: string;
}

export interface PipelineRunList {
  pipeline_runs: PipelineRunSummary[];
}

/** A tool call as the chat log streams it (`llm.ToolInput`). */
export interface ToolCall {
  id?: string;
  tool_name: string;
  tool_args?: Record<string, unknown>;
  external?: boolean;
}

/** A chat log delta (`intent-progress` → `chat_log_delta`). */
export interface ChatLogDelta {
  role?: "assistant" | "tool_result" | string;
  agent_id?: string;
  content?: string;
  thinking_content?: string;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
  tool_name?: string;
  tool_result?: unknown;
  result?: { data?: unknown; error?: boolean };
}

export interface IntentTarget {
  name: string;
  type: string;
  id?: string | null;
}

/** `conversation.ConversationResult.as_dict()`. */
export interface ConversationResult {
  response: {
    speech?: { plain?: { speech?: string } };
    response_type?: "action_done" | "query_answer" | "error" | string;
    language?: string;
    data?: { code?: string; success?: IntentTarget[]; failed?: IntentTarget[] };
  };
  conversation_id?: string | null;
  continue_conversation?: boolean;
}

interface EventBase<T extends string, D> {
  type: T;
  timestamp?: string;
  data: D;
}

export type RunStartEvent = EventBase<
  "run-start",
  {
    pipeline: string;
    language: string;
    conversation_id?: string;
    satellite_id?: string;
    runner_data?: { stt_binary_handler_id: number | null; timeout: number };
    tts_output?: { url: string; mime_type?: string; stream_response?: boolean };
  }
>;
export type SttEndEvent = EventBase<"stt-end", { stt_output: { text: string } }>;
export type IntentStartEvent = EventBase<
  "intent-start",
  {
    engine: string;
    language: string;
    intent_input: string;
    conversation_id?: string | null;
    device_id?: string | null;
    satellite_id?: string | null;
  }
>;
export type IntentProgressEvent = EventBase<
  "intent-progress",
  { chat_log_delta?: ChatLogDelta; tts_start_streaming?: boolean }
>;
export type IntentEndEvent = EventBase<
  "intent-end",
  { processed_locally?: boolean; intent_output: ConversationResult }
>;
export type TtsEndEvent = EventBase<
  "tts-end",
  { tts_output: { url: string; media_id?: string; mime_type?: string } }
>;
export type ErrorEvent = EventBase<"error", { code: string; message: string }>;
export type PlainEvent = EventBase<
  | "run-end"
  | "wake_word-start"
  | "wake_word-end"
  | "stt-start"
  | "stt-vad-start"
  | "stt-vad-end"
  | "tts-start",
  Record<string, unknown> | null | undefined
>;

export type PipelineEvent =
  | RunStartEvent
  | SttEndEvent
  | IntentStartEvent
  | IntentProgressEvent
  | IntentEndEvent
  | TtsEndEvent
  | ErrorEvent
  | PlainEvent;

export type PipelineEventType = PipelineEvent["type"];

/** `assist_pipeline/pipeline_debug/get`. */
export interface PipelineRunDebug {
  events: PipelineEvent[];
}

/** Events of the Jarvis integration's `jarvis/chat` subscription (custom_components/jarvis/chat.py). */
export type ChatEvent =
  | { type: "start"; conversation_id: string; agent_id: string }
  | { type: "delta"; text: string }
  | { type: "thinking"; text: string }
  | { type: "tool_call"; tool_call_id: string; tool_name: string; tool_args?: Record<string, unknown> }
  | { type: "tool_result"; tool_call_id: string; tool_name: string; result?: unknown; error: boolean }
  | ({ type: "final"; agent_id: string; text: string; error: boolean } & ConversationResult)
  | { type: "error"; code: string; message: string };
