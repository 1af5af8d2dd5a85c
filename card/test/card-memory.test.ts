import { describe, expect, it } from "vitest";

import { memoryFor } from "../src/card-memory.js";

describe("memoryFor", () => {
  it("gives a rebuilt card (same configuration) the memory of the one it replaces", () => {
    const config = { title: "x", satellites: [], turns: 5 };
    const first = memoryFor(config);
    first.conversationId = "c1";
    expect(memoryFor({ ...config })).toBe(first);
    expect(memoryFor({ ...config, turns: 3 })).not.toBe(first);
  });

  it("tells every element showing it about a change, until they stop listening", () => {
    const memory = memoryFor({ test: "listeners" });
    const calls: string[] = [];
    const stopA = memory.listen(() => calls.push("a"));
    memory.listen(() => calls.push("b"));
    memory.changed();
    stopA();
    memory.changed();
    expect(calls).toEqual(["a", "b", "b"]);
  });
});
