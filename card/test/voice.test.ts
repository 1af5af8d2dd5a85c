import { describe, expect, it } from "vitest";

import { TurnLoader } from "../src/turn-loader.js";
import { floatTo16 } from "../src/voice.js";
import { LLM_RUN, VOICE_RUN } from "./fixtures.js";

describe("floatTo16", () => {
  it("scales to 16-bit and clips", () => {
    expect([...floatTo16(new Float32Array([0, 1, -1, 0.5, 2, -3]))]).toEqual([0, 32767, -32768, 16384, 32767, -32768]);
  });
});

describe("TurnLoader", () => {
  it("loads the newest runs over all pipelines, fetching a finished run only once", async () => {
    const gets: string[] = [];
    const runs: Record<string, { pipeline_run_id: string; timestamp: string }[]> = {
      voice: [{ pipeline_run_id: VOICE_RUN.pipeline_run_id, timestamp: "2026-11-27T15:44:03.424447+00:00" }],
      typed: [
        { pipeline_run_id: LLM_RUN.pipeline_run_id, timestamp: "2026-11-27T15:50:45.780000+00:00" },
        { pipeline_run_id: "gone", timestamp: "2026-11-27T15:51:00+00:00" },
      ],
    };
    const loader = new TurnLoader({
      listRuns: async (pipelineId: string) => ({ pipeline_runs: runs[pipelineId] ?? [] }),
      getRun: async (_pipelineId: string, runId: string) => {
        gets.push(runId);
        if (runId === VOICE_RUN.pipeline_run_id) return { events: VOICE_RUN.events };
        if (runId === LLM_RUN.pipeline_run_id) return { events: LLM_RUN.events };
        throw { code: "not_found", message: "gone" };
      },
    });
    const first = await loader.load(["voice", "typed"], 5);
    expect(first.map((turn) => turn.heard)).toEqual(["Could you make the bedroom dark please", "Turn off the kitchen light."]);
    const second = await loader.load(["voice", "typed"], 2);
    expect(second.map((turn) => turn.pipelineId)).toEqual(["typed"]); // 'gone' took a place
    expect(gets.filter((id) => id !== "gone").sort()).toEqual([LLM_RUN.pipeline_run_id, VOICE_RUN.pipeline_run_id].sort());
    expect(await loader.load([], 5)).toEqual([]);
  });
});
