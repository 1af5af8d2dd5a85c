/**
 * Assemble a streamed reply, from HA's chat log deltas (the `chat_log_delta` of `intent-progress`
 * events) or from the Jarvis chat API's events (`jarvis/chat`), as HA's own pipeline does for TTS:
 * assistant text in order, a space between two assistant messages (around a tool call), tool calls
 * by name; the final response wins at the end.
 */

import type { ChatEvent, ChatLogDelta, ConversationResult } from "./pipeline-types.js";

export interface ToolRun {
  name: string;
  /** undefined while running; true/false once its result arrived. */
  ok?: boolean;
}

export class ReplyStream {
  private parts: string[] = [];
  private role: string | null = null;
  private messageHasText = false;
  private finalText: string | null = null;
  private readonly toolRuns: ToolRun[] = [];
  private readonly toolById = new Map<string, ToolRun>();
  done = false;
  responseType: string | null = null;
  conversationId: string | null = null;

  /** Add one delta; returns whether the visible text changed. */
  addDelta(delta: ChatLogDelta): boolean {
    let changed = false;
    if (delta.role !== undefined) {
      this.role = delta.role;
      if (delta.role === "assistant") {
        // A new assistant message after text: keep the words apart.
        const last = this.parts.at(-1);
        if (this.messageHasText && last !== undefined && !/\s$/.test(last)) {
          this.parts.push(" ");
          changed = true;
        }
        this.messageHasText = false;
      }
    }
    if (delta.role === "tool_result") {
      const run =
        (delta.tool_call_id !== undefined ? this.toolById.get(delta.tool_call_id) : undefined) ??
        this.toolRuns.find((tool) => tool.name === delta.tool_name && tool.ok === undefined);
      const failed =
        delta.result?.error === true ||
        (typeof delta.tool_result === "object" &&
          delta.tool_result !== null &&
          "error" in delta.tool_result);
      if (run !== undefined) run.ok = !failed;
      else if (delta.tool_name !== undefined)
        this.toolRuns.push({ name: delta.tool_name, ok: !failed });
      return false;
    }
    if (this.role !== "assistant" && this.role !== null) return false;
    if (delta.content !== undefined && delta.content !== "") {
      this.parts.push(delta.content);
      this.messageHasText = true;
      changed = true;
    }
    for (const call of delta.tool_calls ?? []) {
      const run: ToolRun = { name: call.tool_name };
      this.toolRuns.push(run);
      if (call.id !== undefined) this.toolById.set(call.id, run);
    }
    return changed;
  }

  /** Add one `jarvis/chat` event; returns whether the visible text changed. */
  addChatEvent(event: ChatEvent): boolean {
    switch (event.type) {
      case "delta":
        return this.addDelta({ content: event.text });
      case "tool_call":
        // The model's next words are a new assistant message.
        this.addDelta({ tool_calls: [{ id: event.tool_call_id, tool_name: event.tool_name }] });
        this.role = "assistant";
        return false;
      case "tool_result":
        this.addDelta({
          role: "tool_result",
          tool_call_id: event.tool_call_id,
          tool_name: event.tool_name,
          result: { error: event.error },
        });
        // Text after a tool's result starts a new message.
        return this.addDelta({ role: "assistant" });
      case "final":
        this.finish(event, event.text);
        return true;
      case "start":
        this.conversationId = event.conversation_id;
        return false;
      default:
        return false; // thinking is not shown; errors are the caller's
    }
  }

  /** The agent's final result: its speech is the reply (local intents never stream). */
  finish(result: ConversationResult | null, fallbackText?: string): void {
    const speech = result?.response.speech?.plain?.speech;
    if (speech !== undefined && speech !== "") this.finalText = speech;
    else if (fallbackText !== undefined && fallbackText !== "") this.finalText = fallbackText;
    this.responseType = result?.response.response_type ?? null;
    this.conversationId = result?.conversation_id ?? this.conversationId;
    this.done = true;
  }

  /** The text to show now: the final reply once known, else what streamed so far. */
  get text(): string {
    return this.finalText ?? this.parts.join("").trim();
  }

  get tools(): string[] {
    return this.toolRuns.map((tool) => tool.name);
  }

  get toolRunsSnapshot(): ToolRun[] {
    return this.toolRuns.map((tool) => ({ ...tool }));
  }
}
