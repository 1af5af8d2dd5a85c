import { describe, expect, it } from "vitest";

import { cleanConfig, DEFAULT_TURNS, MAX_TURNS, resolveConfig } from "../src/config.js";
import { configFromForm, EDITOR_SCHEMA, formData } from "../src/editor.js";
import { localizer, stringsLanguage, TRANSLATIONS } from "../src/localize.js";

describe("resolveConfig", () => {
  it("fills in the defaults of a one-line card", () => {
    expect(resolveConfig({ type: "custom:jarvis-card" })).toEqual({
      title: null,
      satellites: [],
      agent: null,
      pipeline: null,
      turns: DEFAULT_TURNS,
      showAgents: true,
      showTalk: true,
    });
  });

  it("reads every option, capping the number of turns", () => {
    expect(
      resolveConfig({
        type: "custom:jarvis-card",
        title: "House",
        satellites: ["assist_satellite.office"],
        agent: "conversation.jarvis",
        pipeline: "01abc",
        turns: "50",
        show_agents: false,
        show_talk: false,
      }),
    ).toEqual({
      title: "House",
      satellites: ["assist_satellite.office"],
      agent: "conversation.jarvis",
      pipeline: "01abc",
      turns: MAX_TURNS,
      showAgents: false,
      showTalk: false,
    });
  });

  it.each([
    [null, "Invalid configuration"],
    [{ satellites: "assist_satellite.a" }, "satellites must be a list of assist_satellite entities"],
    [{ satellites: ["light.kitchen"] }, "satellites must be a list of assist_satellite entities"],
    [{ agent: "light.kitchen" }, "agent must be a conversation entity"],
    [{ agent: 3 }, "agent must be a text"],
    [{ turns: -1 }, "turns must be a whole number ≥ 0"],
    [{ turns: 2.5 }, "turns must be a whole number ≥ 0"],
  ])("refuses %j: %s", (config, message) => {
    expect(() => resolveConfig(config)).toThrow(message);
  });
});

describe("the visual editor's form", () => {
  it("has a field for every option, each with a label in en and fr", () => {
    const names = EDITOR_SCHEMA.flatMap((field) => (field.schema ?? [field]).map((f) => f.name));
    expect(names).toEqual(["title", "satellites", "agent", "pipeline", "turns", "show_agents", "show_talk"]);
  });

  it("shows the switches' defaults, and writes back only what differs from them", () => {
    const config = { type: "custom:jarvis-card" };
    const data = formData(config);
    expect(data).toEqual({ type: "custom:jarvis-card", show_agents: true, show_talk: true });
    expect(configFromForm(data, config.type)).toEqual({ type: "custom:jarvis-card" });
    expect(
      configFromForm({ ...data, show_talk: false, satellites: [], agent: "", turns: 3 }, config.type),
    ).toEqual({ type: "custom:jarvis-card", show_talk: false, turns: 3 });
  });

  it("cleanConfig drops empty values and keeps type first", () => {
    expect(Object.keys(cleanConfig({ title: "", turns: 2, type: "x", satellites: ["a"] } as never))).toEqual([
      "type",
      "turns",
      "satellites",
    ]);
  });
});

describe("strings", () => {
  it("French has every English string, with the same placeholders", () => {
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [key, text] of Object.entries(TRANSLATIONS.en)) {
      const french = TRANSLATIONS.fr[key as keyof typeof TRANSLATIONS.fr];
      expect(french, key).toBeTruthy();
      expect(placeholders(french), key).toEqual(placeholders(text));
    }
  });

  it("picks the language from HA's tag, English otherwise, and fills placeholders", () => {
    expect(stringsLanguage("fr")).toBe("fr");
    expect(stringsLanguage("fr-CA")).toBe("fr");
    expect(stringsLanguage("de")).toBe("en");
    expect(stringsLanguage(undefined)).toBe("en");
    expect(localizer("fr")("activity.thinking")).toBe("Réfléchit");
    expect(localizer("en-GB")("agent.speed", { value: "84.0" })).toBe("84.0 tokens/s");
    expect(localizer("en")("agent.speed")).toBe("{value} tokens/s");
  });
});
