import { describe, expect, it } from "vitest";

import type { ChatEvent, PipelineList } from "../src/pipeline-types.js";
import {
  applyChatEvent,
  applyPipelineEvent,
  choosePipeline,
  chooseRoute,
  newExchange,
  sendText,
  type Exchange,
} from "../src/talk.js";
import { HassApi } from "../src/ws.js";
import { fakeHass } from "./fake-hass.js";
import { VOICE_RUN } from "./fixtures.js";

const FINAL_LOCAL: ChatEvent = {
  type: "final",
  response: {
    speech: { plain: { speech: "Turned off the light" } },
    response_type: "action_done",
    data: { success: [{ name: "Kitchen light", type: "entity", id: "light.kitchen_light" }], failed: [] },
  },
  conversation_id: "01CONV",
  continue_conversation: false,
  agent_id: "conversation.jarvis",
  text: "Turned off the light",
  error: false,
};

/** What `jarvis/chat` sends for a model that calls a tool, then streams its answer (chat.py). */
const LLM_EVENTS: ChatEvent[] = [
  { type: "tool_call", tool_call_id: "t1", tool_name: "HassTurnOff", tool_args: { name: "Bedroom light" } },
  { type: "tool_result", tool_call_id: "t1", tool_name: "HassTurnOff", result: {}, error: false },
  { type: "delta", text: "The " },
  { type: "delta", text: "bedroom " },
  { type: "delta", text: "light is off." },
  {
    ...(FINAL_LOCAL as Extract<ChatEvent, { type: "final" }>),
    response: { speech: { plain: { speech: "The bedroom light is off." } }, response_type: "action_done" },
    text: "The bedroom light is off.",
  },
];

describe("routes", () => {
  it("types through jarvis/chat to a Jarvis agent, through HA's conversation API otherwise", () => {
    expect(chooseRoute(null, ["conversation.jarvis"])).toBe("chat");
    expect(chooseRoute("conversation.jarvis", ["conversation.jarvis"])).toBe("chat");
    expect(chooseRoute("conversation.openai", ["conversation.jarvis"])).toBe("conversation");
    expect(chooseRoute(null, [])).toBe("conversation");
  });

  it("picks the configured pipeline, else HA's preferred one", () => {
    const list: PipelineList = {
      pipelines: [
        { id: "a", name: "A", language: "en", conversation_engine: "conversation.jarvis", stt_engine: null, tts_engine: null },
        { id: "b", name: "B", language: "en", conversation_engine: "conversation.jarvis", stt_engine: "stt.x", tts_engine: "tts.y" },
      ],
      preferred_pipeline: "b",
    };
    expect(choosePipeline(list, null)?.name).toBe("B");
    expect(choosePipeline(list, "a")?.name).toBe("A");
    expect(choosePipeline(list, "gone")).toBeNull();
    expect(choosePipeline(null, null)).toBeNull();
  });
});

describe("sendText through jarvis/chat", () => {
  it("streams the reply into the exchange, then ends with the final answer", async () => {
    const hass = fakeHass({}, {
      "jarvis/chat": (emit) => {
        setTimeout(() => {
          for (const event of LLM_EVENTS) emit(event);
        }, 0);
      },
    });
    const shown: string[] = [];
    const statuses: string[] = [];
    const exchange = await sendText(
      new HassApi(() => hass),
      { text: "make the bedroom dark", route: "chat", agent: null, fallbackAgent: null, conversationId: null, language: "en" },
      (current) => {
        shown.push(current.reply.text);
        statuses.push(current.status);
      },
    );
    expect(hass.sent).toEqual([{ type: "jarvis/chat", text: "make the bedroom dark", language: "en" }]);
    expect(shown).toEqual(["", "", "", "The", "The bedroom", "The bedroom light is off.", "The bedroom light is off.", "The bedroom light is off."]);
    expect(statuses.at(0)).toBe("sending");
    expect(statuses.at(-1)).toBe("done");
    expect(exchange.reply.tools).toEqual(["HassTurnOff"]);
    expect(exchange.reply.conversationId).toBe("01CONV");
    expect(hass.unsubscribed).toBe(1);
  });

  it("sends the agent and the conversation to continue", async () => {
    const hass = fakeHass({}, { "jarvis/chat": (emit) => emit(FINAL_LOCAL) });
    const exchange = await sendText(
      new HassApi(() => hass),
      { text: "turn off the kitchen light", route: "chat", agent: "conversation.jarvis", fallbackAgent: null, conversationId: "01CONV", language: "fr" },
      () => undefined,
    );
    expect(hass.sent[0]).toEqual({
      type: "jarvis/chat",
      text: "turn off the kitchen light",
      agent_id: "conversation.jarvis",
      language: "fr",
      conversation_id: "01CONV",
    });
    expect(exchange.reply.text).toBe("Turned off the light");
    expect(exchange.status).toBe("done");
  });

  it("shows an error event, and a refused request", async () => {
    const failing = fakeHass({}, { "jarvis/chat": (emit) => emit({ type: "error", code: "unknown_error", message: "Unknown error" }) });
    const failed = await sendText(new HassApi(() => failing), { text: "x", route: "chat", agent: null, fallbackAgent: null, conversationId: null, language: "en" }, () => undefined);
    expect(failed).toMatchObject({ status: "error", error: "Unknown error" });

    const refusing = fakeHass({});
    refusing.connection.subscribeMessage = () => Promise.reject({ code: "not_allowed", message: "A chat is already running" });
    const refused = await sendText(new HassApi(() => refusing), { text: "x", route: "chat", agent: null, fallbackAgent: null, conversationId: null, language: "en" }, () => undefined);
    expect(refused).toMatchObject({ status: "error", error: "A chat is already running" });
  });

  it("marks an agent's error answer as an error", () => {
    const exchange = newExchange("x", "chat", false);
    expect(applyChatEvent(exchange, { type: "delta", text: "Sorry" })).toBe(false);
    expect(exchange.status).toBe("thinking");
    const sorry = { ...FINAL_LOCAL, text: "Sorry, I can't reach the Ollama server right now.", error: true } as ChatEvent;
    expect(applyChatEvent(exchange, sorry)).toBe(true);
    expect(exchange.status).toBe("error");
    expect(exchange.reply.text).toBe("Turned off the light"); // the response's own speech wins
  });
});

describe("sendText through HA's conversation API", () => {
  it("is where a chat goes when HA does not know jarvis/chat, with Jarvis's first agent", async () => {
    const hass = fakeHass({
      "conversation/process": () => ({ response: { speech: { plain: { speech: "Done" } }, response_type: "action_done" } }),
    });
    hass.connection.subscribeMessage = () => Promise.reject({ code: "unknown_command", message: "Unknown command." });
    const exchange = await sendText(
      new HassApi(() => hass),
      { text: "hi", route: "chat", agent: null, fallbackAgent: "conversation.jarvis", conversationId: null, language: "en" },
      () => undefined,
    );
    expect(exchange).toMatchObject({ status: "done", route: "conversation" });
    expect(hass.sent).toEqual([{ type: "conversation/process", text: "hi", language: "en", agent_id: "conversation.jarvis" }]);
  });

  it("shows the one answer", async () => {
    const hass = fakeHass({
      "conversation/process": () => ({ response: { speech: { plain: { speech: "Turned off the light" } }, response_type: "action_done" }, conversation_id: "c9" }),
    });
    const exchange = await sendText(
      new HassApi(() => hass),
      { text: "turn off the kitchen light", route: "conversation", agent: "conversation.jarvis", fallbackAgent: null, conversationId: null, language: "en" },
      () => undefined,
    );
    expect(exchange).toMatchObject({ status: "done", route: "conversation" });
    expect(exchange.reply.text).toBe("Turned off the light");
    expect(exchange.reply.conversationId).toBe("c9");
  });
});

describe("applyPipelineEvent (push-to-talk)", () => {
  it("follows a recorded voice run: listening → thinking → speaking, with the transcript", () => {
    const exchange: Exchange = newExchange("", "pipeline", true);
    const seen: string[] = [];
    let over = false;
    for (const event of VOICE_RUN.events) {
      over = applyPipelineEvent(exchange, event);
      if (seen.at(-1) !== exchange.status) seen.push(exchange.status);
    }
    expect(over).toBe(true);
    expect(seen).toEqual(["listening", "thinking", "speaking"]);
    expect(exchange.said).toBe("Turn off the kitchen light.");
    expect(exchange.reply.text).toBe("Turned off the light");
    expect(exchange.audioUrl).toBe("/api/tts_proxy/0OedZ_PJRf0bMiXneB6sPQ.wav");
  });

  it("ends on an error event", () => {
    const exchange = newExchange("", "pipeline", true);
    expect(applyPipelineEvent(exchange, { type: "error", data: { code: "stt-no-text-recognized", message: "No text recognized" } })).toBe(true);
    expect(exchange).toMatchObject({ status: "error", error: "No text recognized" });
  });
});
