import { describe, expect, it } from "vitest";

import {
  formatDuration,
  MIN_BAR_PCT,
  mergeTurns,
  stageBars,
  turnFromEvents,
  type Turn,
} from "../src/turns.js";
import { clone, LLM_RUN, VOICE_RUN } from "./fixtures.js";

const voiceTurn = (): Turn => {
  const turn = turnFromEvents(VOICE_RUN.pipeline_run_id, "p1", VOICE_RUN.events);
  if (turn === null) throw new Error("no turn");
  return turn;
};

describe("turnFromEvents on a recorded voice request", () => {
  it("reads what was heard, the reply, the satellite and what changed", () => {
    const turn = voiceTurn();
    expect(turn.heard).toBe("Turn off the kitchen light.");
    expect(turn.reply).toBe("Turned off the light");
    expect(turn.satelliteId).toBe("assist_satellite.office_demo_satellite");
    expect(turn.processedLocally).toBe(true);
    expect(turn.targets).toEqual([{ name: "Kitchen light", type: "entity", id: "light.kitchen_light" }]);
    expect(turn.tools).toEqual([]);
    expect(turn.finished).toBe(true);
    expect(turn.error).toBeNull();
  });

  it("times each stage from HA's event timestamps (ms since run-start)", () => {
    const turn = voiceTurn();
    const spans = Object.fromEntries(
      turn.spans.map((span) => [span.stage, Math.round(span.endMs - span.startMs)]),
    );
    // 03.426 → 06.690 speech, 06.690 → 07.373 transcript, 07.373 → 07.552 intent, tts 0.6 ms.
    expect(spans).toEqual({ speech: 3264, stt: 683, intent: 179, tts: 1 });
    expect(turn.spans.map((span) => span.stage)).toEqual(["speech", "stt", "intent", "tts"]);
    expect(turn.totalMs).toBe(4129); // Date.parse keeps milliseconds
  });

  it("has no speech stage when the audio was ended without VAD (STT is one stage)", () => {
    const events = VOICE_RUN.events.filter((e) => e.type !== "stt-vad-start" && e.type !== "stt-vad-end");
    const turn = turnFromEvents("x", "p1", events);
    const stt = turn?.spans.find((span) => span.stage === "stt");
    expect(turn?.spans.map((span) => span.stage)).toEqual(["stt", "intent", "tts"]);
    expect(Math.round((stt?.endMs ?? 0) - (stt?.startMs ?? 0))).toBe(3947);
  });

  it("reports an unfinished run and an error", () => {
    const events = clone(VOICE_RUN.events).slice(0, 5);
    events.push({ type: "error", timestamp: "2026-11-27T15:44:07.400000+00:00", data: { code: "stt-no-text-recognized", message: "No text recognized" } });
    const turn = turnFromEvents("x", "p1", events);
    expect(turn?.finished).toBe(false);
    expect(turn?.error).toBe("No text recognized");
    expect(turn?.reply).toBeNull();
    expect(turn?.totalMs).toBeNull();
  });

  it("returns null for a run without events", () => {
    expect(turnFromEvents("x", "p1", [])).toBeNull();
  });
});

describe("turnFromEvents on a typed request answered by the model", () => {
  it("assembles the streamed reply and lists the tool it called", () => {
    const turn = turnFromEvents(LLM_RUN.pipeline_run_id, "p1", LLM_RUN.events);
    expect(turn?.heard).toBe("Could you make the bedroom dark please");
    expect(turn?.reply).toBe("The bedroom light is off now.");
    expect(turn?.tools).toEqual(["intent__HassTurnOff"]);
    expect(turn?.processedLocally).toBe(false);
    expect(turn?.satelliteId).toBeNull();
    expect(turn?.spans.map((span) => span.stage)).toEqual(["intent"]);
  });
});

describe("stageBars", () => {
  it("lays the stages on one axis: offsets grow, widths are proportional", () => {
    const bars = stageBars(voiceTurn());
    expect(bars.map((bar) => bar.stage)).toEqual(["speech", "stt", "intent", "tts"]);
    const [speech, stt, intent, tts] = bars;
    expect(speech?.offsetPct).toBe(0.05);
    expect(speech?.widthPct).toBeCloseTo(79.06, 1);
    expect(stt?.offsetPct).toBeCloseTo(79.1, 1);
    expect(stt?.widthPct).toBeCloseTo(16.54, 1);
    expect(intent?.widthPct).toBeCloseTo(4.32, 1);
    // A stage of a millisecond still shows.
    expect(tts?.widthPct).toBe(MIN_BAR_PCT);
    for (const bar of bars) expect(bar.offsetPct + bar.widthPct).toBeLessThanOrEqual(100);
    expect(bars.map((bar) => bar.ms).map(Math.round)).toEqual([3264, 683, 179, 1]);
  });

  it("keeps a bar inside the track when it ends the run", () => {
    const bars = stageBars({
      spans: [
        { stage: "intent", startMs: 0, endMs: 10 },
        { stage: "tts", startMs: 999, endMs: 1000 },
      ],
      totalMs: 1000,
    });
    expect(bars[1]).toEqual({ stage: "tts", ms: 1, offsetPct: 100 - MIN_BAR_PCT, widthPct: MIN_BAR_PCT });
  });

  it("uses the last stage's end when the run has not ended", () => {
    const bars = stageBars({ spans: [{ stage: "intent", startMs: 500, endMs: 1000 }], totalMs: null });
    expect(bars[0]).toMatchObject({ offsetPct: 50, widthPct: 50 });
  });

  it("gives zero-length runs minimal bars", () => {
    const bars = stageBars({ spans: [{ stage: "intent", startMs: 0, endMs: 0 }], totalMs: 0 });
    expect(bars).toEqual([{ stage: "intent", ms: 0, offsetPct: 0, widthPct: MIN_BAR_PCT }]);
  });
});

describe("formatDuration", () => {
  it.each([
    [0.6, "1 ms"],
    [179, "179 ms"],
    [999.4, "999 ms"],
    [1000, "1.0 s"],
    [4128, "4.1 s"],
    [12_400, "12 s"],
  ])("%s ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe("mergeTurns", () => {
  const turn = (id: string, startedAt: string, reply = "r"): Turn => ({
    ...voiceTurn(),
    id,
    startedAt,
    reply,
  });

  it("keeps turns HA forgot (a restart), newest first, at most `limit`", () => {
    const known = [turn("b", "2026-01-01T10:00:02Z"), turn("a", "2026-01-01T10:00:01Z")];
    const fresh = [turn("c", "2026-01-01T10:00:03Z"), turn("b", "2026-01-01T10:00:02Z", "new")];
    const merged = mergeTurns(known, fresh, 2);
    expect(merged.map((t) => t.id)).toEqual(["c", "b"]);
    expect(merged[1]?.reply).toBe("new");
    expect(mergeTurns(known, fresh, 0)).toEqual([]);
  });
});
