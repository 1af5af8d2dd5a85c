/**
 * The card's visual editor: HA's own `ha-form` with selectors (entity pickers, pipeline picker),
 * labels in the user's language; writes the config back through `config-changed`.
 */

import { LitElement, css, html, nothing, type TemplateResult } from "lit";

import { cleanConfig, MAX_TURNS, type JarvisCardConfig } from "./config.js";
import type { HomeAssistant } from "./ha-types.js";
import { localizer, type StringKey } from "./localize.js";

export interface FormField {
  name: string;
  selector?: Record<string, unknown>;
  type?: "grid";
  schema?: FormField[];
}

/** The form: one field per option, as HA selectors. */
export const EDITOR_SCHEMA: FormField[] = [
  { name: "title", selector: { text: {} } },
  {
    name: "satellites",
    selector: { entity: { multiple: true, filter: { domain: "assist_satellite" } } },
  },
  { name: "agent", selector: { entity: { filter: { domain: "conversation" } } } },
  { name: "pipeline", selector: { assist_pipeline: {} } },
  { name: "turns", selector: { number: { min: 0, max: MAX_TURNS, mode: "box" } } },
  {
    name: "",
    type: "grid",
    schema: [
      { name: "show_agents", selector: { boolean: {} } },
      { name: "show_talk", selector: { boolean: {} } },
    ],
  },
];

const LABELS: Record<string, StringKey> = {
  title: "editor.title",
  satellites: "editor.satellites",
  agent: "editor.agent",
  pipeline: "editor.pipeline",
  turns: "editor.turns",
  show_agents: "editor.show_agents",
  show_talk: "editor.show_talk",
};

/** The form's data from a config: the defaults filled in, so switches show their real value. */
export function formData(config: JarvisCardConfig): Record<string, unknown> {
  return { show_agents: true, show_talk: true, ...config };
}

/** The config to write back from the form's value. */
export function configFromForm(value: Record<string, unknown>, type: string): JarvisCardConfig {
  const config = cleanConfig({ ...(value as Partial<JarvisCardConfig>), type });
  // Defaults are not written: a fresh card's YAML stays one line.
  if (config.show_agents === true) delete config.show_agents;
  if (config.show_talk === true) delete config.show_talk;
  return config;
}

interface CardHelpers {
  createCardElement(config: Record<string, unknown>): HTMLElement;
}
declare global {
  interface Window {
    loadCardHelpers?: () => Promise<CardHelpers>;
  }
}

/** HA loads `ha-form` and its pickers lazily: make sure they are defined before rendering. */
async function loadHaForm(): Promise<void> {
  if (customElements.get("ha-form") && customElements.get("ha-entity-picker")) return;
  const helpers = await window.loadCardHelpers?.();
  const card = helpers?.createCardElement({ type: "entities", entities: [] }) as
    | (HTMLElement & { constructor: { getConfigElement?: () => Promise<unknown> } })
    | undefined;
  await card?.constructor.getConfigElement?.();
}

export class JarvisCardEditor extends LitElement {
  static override styles = css`
    .note {
      color: var(--secondary-text-color);
      font-size: 12px;
    }
  `;

  private _hass: HomeAssistant | undefined;
  private config: JarvisCardConfig | undefined;
  private ready = false;

  get hass(): HomeAssistant | undefined {
    return this._hass;
  }

  set hass(hass: HomeAssistant) {
    this._hass = hass;
    this.requestUpdate();
  }

  setConfig(config: JarvisCardConfig): void {
    this.config = config;
    this.requestUpdate();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void loadHaForm().finally(() => {
      this.ready = true;
      this.requestUpdate();
    });
  }

  private readonly computeLabel = (field: FormField): string => {
    const key = LABELS[field.name];
    return key !== undefined ? localizer(this._hass?.language)(key) : field.name;
  };

  private valueChanged(event: CustomEvent<{ value: Record<string, unknown> }>): void {
    event.stopPropagation();
    if (this.config === undefined) return;
    this.config = configFromForm(event.detail.value, this.config.type);
    this.dispatchEvent(
      new CustomEvent("config-changed", {
        detail: { config: this.config },
        bubbles: true,
        composed: true,
      }),
    );
  }

  protected override render(): TemplateResult | typeof nothing {
    if (this._hass === undefined || this.config === undefined || !this.ready) return nothing;
    return html`<ha-form
      .hass=${this._hass}
      .data=${formData(this.config)}
      .schema=${EDITOR_SCHEMA}
      .computeLabel=${this.computeLabel}
      @value-changed=${(event: CustomEvent<{ value: Record<string, unknown> }>) => this.valueChanged(event)}
    ></ha-form>`;
  }
}
