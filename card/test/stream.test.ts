import { describe, expect, it } from "vitest";

import type { ChatLogDelta, IntentProgressEvent } from "../src/pipeline-types.js";
import { ReplyStream } from "../src/stream.js";
import { LLM_RUN } from "./fixtures.js";

const deltas = (): ChatLogDelta[] =>
  LLM_RUN.events
    .filter((event): event is IntentProgressEvent => event.type === "intent-progress")
    .flatMap((event) => (event.data.chat_log_delta ? [event.data.chat_log_delta] : []));

describe("ReplyStream", () => {
  it("shows the recorded stream word by word, the tool call, then the final reply", () => {
    const stream = new ReplyStream();
    const seen: string[] = [];
    for (const delta of deltas()) if (stream.addDelta(delta)) seen.push(stream.text);
    expect(seen).toEqual([
      "The",
      "The bedroom",
      "The bedroom light",
      "The bedroom light is",
      "The bedroom light is off",
      "The bedroom light is off now.",
    ]);
    expect(stream.tools).toEqual(["intent__HassTurnOff"]);
    expect(stream.toolRunsSnapshot).toEqual([{ name: "intent__HassTurnOff", ok: true }]);
    expect(stream.done).toBe(false);
    const end = LLM_RUN.events.find((event) => event.type === "intent-end");
    if (end?.type !== "intent-end") throw new Error("no intent-end");
    stream.finish(end.data.intent_output);
    expect(stream.text).toBe("The bedroom light is off now.");
    expect(stream.done).toBe(true);
    expect(stream.responseType).toBe("action_done");
    expect(stream.conversationId).toBe("01M8EV7CRM1TJAN17JK1F919A6");
  });

  it("keeps two assistant messages apart (text, tool call, more text)", () => {
    const stream = new ReplyStream();
    stream.addDelta({ role: "assistant", content: "Let me check" });
    stream.addDelta({ tool_calls: [{ id: "1", tool_name: "GetWeather" }] });
    stream.addDelta({ role: "tool_result", tool_call_id: "1", tool_name: "GetWeather", result: { data: {}, error: false } });
    stream.addDelta({ role: "assistant" });
    stream.addDelta({ content: "it is sunny." });
    expect(stream.text).toBe("Let me check it is sunny.");
    expect(stream.toolRunsSnapshot).toEqual([{ name: "GetWeather", ok: true }]);
  });

  it("marks a failed tool, and a result without a call", () => {
    const stream = new ReplyStream();
    stream.addDelta({ role: "assistant", tool_calls: [{ id: "a", tool_name: "HassTurnOn" }] });
    stream.addDelta({ role: "tool_result", tool_call_id: "a", tool_name: "HassTurnOn", result: { data: { error: "x" }, error: true } });
    stream.addDelta({ role: "tool_result", tool_call_id: "b", tool_name: "Other", tool_result: { error: "boom" } });
    expect(stream.toolRunsSnapshot).toEqual([
      { name: "HassTurnOn", ok: false },
      { name: "Other", ok: false },
    ]);
    expect(stream.text).toBe("");
  });

  it("ignores thinking and lets the final speech win over what streamed", () => {
    const stream = new ReplyStream();
    expect(stream.addDelta({ role: "assistant", thinking_content: "hmm" })).toBe(false);
    stream.addDelta({ content: "Partial" });
    stream.finish({ response: { speech: { plain: { speech: "Sorry, I can't reach the Ollama server right now." } }, response_type: "error" } });
    expect(stream.text).toBe("Sorry, I can't reach the Ollama server right now.");
    expect(stream.responseType).toBe("error");
  });

  it("keeps the streamed text when the result has no speech, else uses the fallback", () => {
    const streamed = new ReplyStream();
    streamed.addDelta({ role: "assistant", content: "Done." });
    streamed.finish({ response: { speech: {} } });
    expect(streamed.text).toBe("Done.");
    const empty = new ReplyStream();
    empty.finish(null, "fallback");
    expect(empty.text).toBe("fallback");
  });
});
