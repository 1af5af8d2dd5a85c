/** Load the last turns from HA's pipeline debug runs, fetching each finished run only once. */

import type { PipelineRunSummary } from "./pipeline-types.js";
import { turnFromEvents, type Turn } from "./turns.js";
import type { HassApi } from "./ws.js";

interface RunRef extends PipelineRunSummary {
  pipelineId: string;
}

export class TurnLoader {
  private readonly finished = new Map<string, Turn>();

  constructor(private readonly api: Pick<HassApi, "listRuns" | "getRun">) {}

  /** The newest `limit` turns over `pipelineIds`, newest first. */
  async load(pipelineIds: readonly string[], limit: number): Promise<Turn[]> {
    if (limit <= 0 || pipelineIds.length === 0) return [];
    const lists = await Promise.all(
      pipelineIds.map(async (pipelineId) =>
        (await this.api.listRuns(pipelineId)).pipeline_runs.map(
          (run): RunRef => ({ ...run, pipelineId }),
        ),
      ),
    );
    const newest = lists
      .flat()
      .sort((a, b) => (a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : 0))
      .slice(0, limit);
    const turns = await Promise.all(newest.map((run) => this.turn(run)));
    return turns.filter((turn): turn is Turn => turn !== null);
  }

  private async turn(run: RunRef): Promise<Turn | null> {
    const known = this.finished.get(run.pipeline_run_id);
    if (known !== undefined) return known;
    let debug;
    try {
      debug = await this.api.getRun(run.pipelineId, run.pipeline_run_id);
    } catch {
      return null; // dropped from HA's debug buffer meanwhile
    }
    const turn = turnFromEvents(run.pipeline_run_id, run.pipelineId, debug.events);
    if (turn?.finished) this.finished.set(turn.id, turn);
    return turn;
  }
}
