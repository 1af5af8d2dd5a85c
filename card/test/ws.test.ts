import { describe, expect, it } from "vitest";

import { applyEntitiesMessage, audioMessage, HassApi } from "../src/ws.js";
import { fakeHass } from "./fake-hass.js";

describe("applyEntitiesMessage (subscribe_entities)", () => {
  it("adds, changes and removes states; reports only real changes", () => {
    const states = new Map<string, string>();
    expect(applyEntitiesMessage(states, { a: { "assist_satellite.a": { s: "idle" }, "assist_satellite.b": { s: "idle" } } })).toEqual([
      "assist_satellite.a",
      "assist_satellite.b",
    ]);
    expect(applyEntitiesMessage(states, { c: { "assist_satellite.a": { "+": { s: "listening", lc: 1 } } } })).toEqual([
      "assist_satellite.a",
    ]);
    // An attribute-only change ('+' without 's') and a repeated state are no change.
    expect(applyEntitiesMessage(states, { c: { "assist_satellite.a": { "+": { lu: 2 } } }, a: { "assist_satellite.b": { s: "idle" } } })).toEqual([]);
    expect(applyEntitiesMessage(states, { r: ["assist_satellite.b", "assist_satellite.zz"] })).toEqual(["assist_satellite.b"]);
    expect([...states]).toEqual([["assist_satellite.a", "listening"]]);
  });
});

describe("audioMessage", () => {
  it("prefixes the handler id to little-endian 16-bit PCM", () => {
    const pcm = new Int16Array([1, -2, 0x1234]);
    expect([...audioMessage(7, pcm)]).toEqual([7, 1, 0, 0xfe, 0xff, 0x34, 0x12]);
    // A view into a larger buffer sends only its own samples.
    const view = new Int16Array(new Int16Array([9, 9, 5]).buffer, 4, 1);
    expect([...audioMessage(1, view)]).toEqual([1, 5, 0]);
  });

  it("is sent on the socket, and the end of audio is the handler id alone", () => {
    const hass = fakeHass({});
    const api = new HassApi(() => hass);
    api.sendAudio(3, new Int16Array([256]));
    api.endAudio(3);
    expect(hass.binary.map((b) => [...b])).toEqual([[3, 0, 1], [3]]);
  });
});

describe("HassApi", () => {
  it("sends the commands of HA's assist pipeline API with their fields", async () => {
    const hass = fakeHass({
      "assist_pipeline/pipeline/list": () => ({ pipelines: [], preferred_pipeline: null }),
      "assist_pipeline/pipeline_debug/list": () => ({ pipeline_runs: [] }),
      "assist_pipeline/pipeline_debug/get": () => ({ events: [] }),
      "conversation/process": () => ({ response: {} }),
    });
    const api = new HassApi(() => hass);
    await api.listPipelines();
    await api.listRuns("p1");
    await api.getRun("p1", "r1");
    await api.processConversation("hi", null, null, "fr");
    await api.processConversation("hi", "conversation.jarvis", "c1", "en");
    expect(hass.sent).toEqual([
      { type: "assist_pipeline/pipeline/list" },
      { type: "assist_pipeline/pipeline_debug/list", pipeline_id: "p1" },
      { type: "assist_pipeline/pipeline_debug/get", pipeline_id: "p1", pipeline_run_id: "r1" },
      { type: "conversation/process", text: "hi", language: "fr" },
      { type: "conversation/process", text: "hi", language: "en", agent_id: "conversation.jarvis", conversation_id: "c1" },
    ]);
  });
});
