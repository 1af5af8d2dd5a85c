/**
 * `custom:jarvis-card`: every satellite with its live state, the Ollama server and the agents'
 * figures, a box (and push-to-talk) to talk to Jarvis, and the last requests with their stage times.
 */

import { LitElement, html, nothing, type TemplateResult } from "lit";

import { CARD_TYPE, ConfigError, resolveConfig, type JarvisCardConfig, type ResolvedConfig } from "./config.js";
import type { Connection, HomeAssistant, Unsubscribe } from "./ha-types.js";
import {
  activityOf,
  areaOf,
  homeSignature,
  jarvisAgents,
  jarvisServers,
  satelliteIds,
  satelliteView,
  type SatelliteView,
} from "./home-model.js";
import { localizer, type Localize } from "./localize.js";
import type { PipelineList } from "./pipeline-types.js";
import { memoryFor, type CardMemory } from "./card-memory.js";
import { cardStyles } from "./styles.js";
import { choosePipeline, chooseRoute, errorText, sendText, type Exchange } from "./talk.js";
import { TurnLoader } from "./turn-loader.js";
import { formatDuration, mergeTurns, stageBars, type Turn } from "./turns.js";
import { micSupported, VoiceSession } from "./voice.js";
import { applyEntitiesMessage, HassApi } from "./ws.js";

const ACTIVITY_ICONS: Record<string, string> = {
  idle: "mdi:microphone-outline",
  listening: "mdi:microphone",
  thinking: "mdi:dots-horizontal-circle-outline",
  speaking: "mdi:account-voice",
  disconnected: "mdi:microphone-off",
  unknown: "mdi:help-circle-outline",
};

/** How long after a satellite goes back to idle the card asks HA for the new turn. */
const TURNS_REFRESH_DELAY_MS = 300;
const EXCHANGES_SHOWN = 2;

export class JarvisCard extends LitElement {
  static override styles = cardStyles;

  private _hass: HomeAssistant | undefined;
  private config: ResolvedConfig | undefined;
  private signature = "";
  private readonly api = new HassApi(() => {
    if (this._hass === undefined) throw new Error("hass is not set yet");
    return this._hass;
  });
  private readonly loader = new TurnLoader(this.api);

  private pipelines: PipelineList | null = null;
  private memory: CardMemory = memoryFor({});
  private stopListening: (() => void) | null = null;
  private turnsProblem: "admin_only" | null = null;
  private draft = "";
  private voice: VoiceSession | null = null;
  /** Satellite states as HA's `subscribe_entities` events bring them. */
  private readonly liveStates = new Map<string, string>();
  private socketUp = true;

  private watched = "";
  private unsubscribeStates: Promise<Unsubscribe> | null = null;
  private connection: Connection | null = null;
  private turnsTimer: ReturnType<typeof setTimeout> | undefined;
  private loadingTurns: Promise<void> | null = null;
  private reloadTurnsAgain = false;

  // --- what HA calls -----------------------------------------------------------------------

  static getConfigElement(): HTMLElement {
    return document.createElement("jarvis-card-editor");
  }

  static getStubConfig(): JarvisCardConfig {
    return { type: `custom:${CARD_TYPE}` };
  }

  setConfig(config: JarvisCardConfig): void {
    try {
      this.config = resolveConfig(config);
    } catch (error: unknown) {
      throw new Error(error instanceof ConfigError ? error.message : errorText(error));
    }
    this.signature = "";
    this.memory = memoryFor(this.config);
    if (this.isConnected) this.listenToMemory();
    if (this._hass !== undefined) this.start();
    this.requestUpdate();
  }

  getCardSize(): number {
    const satellites = this._hass ? satelliteIds(this._hass, this.config?.satellites).length : 1;
    return 3 + satellites + Math.min(this.memory.turns.length, this.config?.turns ?? 0) * 2;
  }

  getGridOptions(): { columns: number; min_columns: number; rows: string } {
    return { columns: 12, min_columns: 6, rows: "auto" };
  }

  get hass(): HomeAssistant | undefined {
    return this._hass;
  }

  set hass(hass: HomeAssistant) {
    const first = this._hass === undefined;
    this._hass = hass;
    if (hass.connection !== this.connection) this.watchConnection(hass.connection);
    if (this.config === undefined) return;
    if (first) this.start();
    this.watchSatellites();
    // HA hands a new `hass` on every state change in the home: render only when ours changed.
    const signature =
      `${hass.language}|${hass.connected}|` +
      homeSignature(hass, satelliteIds(hass, this.config.satellites), this.config.agent ?? undefined);
    if (signature !== this.signature) {
      this.signature = signature;
      this.requestUpdate();
    }
  }

  private listenToMemory(): void {
    this.stopListening?.();
    this.stopListening = this.memory.listen(() => this.requestUpdate());
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.listenToMemory();
    if (this._hass !== undefined && this.config !== undefined) {
      this.watchConnection(this._hass.connection);
      this.start();
    }
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopListening?.();
    this.stopListening = null;
    this.stopWatchingSatellites();
    this.watchConnection(null);
    clearTimeout(this.turnsTimer);
    this.voice?.release();
  }

  // --- data ---------------------------------------------------------------------------------

  private get t(): Localize {
    return localizer(this._hass?.locale?.language ?? this._hass?.language);
  }

  private start(): void {
    this.watchSatellites();
    void this.loadPipelines();
  }

  private readonly onReady = (): void => {
    this.socketUp = true;
    // After a reconnect (HA restarted?): pipelines and runs may have changed.
    void this.loadPipelines();
    this.requestUpdate();
  };

  private readonly onDisconnected = (): void => {
    this.socketUp = false;
    this.requestUpdate();
  };

  private watchConnection(connection: Connection | null): void {
    if (this.connection !== null) {
      this.connection.removeEventListener("ready", this.onReady);
      this.connection.removeEventListener("disconnected", this.onDisconnected);
    }
    this.connection = connection;
    if (connection !== null) {
      connection.addEventListener("ready", this.onReady);
      connection.addEventListener("disconnected", this.onDisconnected);
    }
  }

  private async loadPipelines(): Promise<void> {
    try {
      this.pipelines = await this.api.listPipelines();
    } catch {
      this.pipelines = null;
    }
    this.requestUpdate();
    await this.loadTurns();
  }

  private watchSatellites(): void {
    if (this._hass === undefined || this.config === undefined || !this.isConnected) return;
    const ids = satelliteIds(this._hass, this.config.satellites);
    const key = ids.join(",");
    if (key === this.watched && this.unsubscribeStates !== null) return;
    this.stopWatchingSatellites();
    this.watched = key;
    if (ids.length === 0) return;
    this.unsubscribeStates = this.api.subscribeStates(ids, (message) => {
      const before = new Map(this.liveStates);
      const changed = applyEntitiesMessage(this.liveStates, message);
      if (changed.length === 0) return;
      this.requestUpdate();
      // A satellite back to idle has finished a request: fetch it.
      if (changed.some((id) => this.liveStates.get(id) === "idle" && before.get(id) !== "idle")) {
        this.scheduleTurns();
      }
    });
    this.unsubscribeStates.catch(() => {
      this.unsubscribeStates = null;
    });
  }

  private stopWatchingSatellites(): void {
    const unsubscribe = this.unsubscribeStates;
    this.unsubscribeStates = null;
    this.watched = "";
    this.liveStates.clear();
    void unsubscribe?.then((unsub) => unsub()).catch(() => undefined);
  }

  private scheduleTurns(): void {
    clearTimeout(this.turnsTimer);
    this.turnsTimer = setTimeout(() => void this.loadTurns(), TURNS_REFRESH_DELAY_MS);
  }

  private async loadTurns(): Promise<void> {
    if (this.loadingTurns !== null) {
      this.reloadTurnsAgain = true;
      return this.loadingTurns;
    }
    const config = this.config;
    if (config === undefined || config.turns === 0 || this.pipelines === null) return;
    if (this._hass?.user !== undefined && !this._hass.user.is_admin) {
      this.turnsProblem = "admin_only";
      this.requestUpdate();
      return;
    }
    const ids = config.pipeline !== null ? [config.pipeline] : this.pipelines.pipelines.map((p) => p.id);
    this.loadingTurns = (async () => {
      try {
        const fresh = await this.loader.load(ids, config.turns);
        // Runs HA has forgotten (a restart) stay on the card.
        this.memory.turns = mergeTurns(this.memory.turns, fresh, config.turns);
        this.turnsProblem = null;
        this.memory.changed();
      } catch (error: unknown) {
        if (errorText(error).toLowerCase().includes("unauthorized")) this.turnsProblem = "admin_only";
      }
      this.requestUpdate();
    })();
    try {
      await this.loadingTurns;
    } finally {
      this.loadingTurns = null;
    }
    if (this.reloadTurnsAgain) {
      this.reloadTurnsAgain = false;
      await this.loadTurns();
    }
  }

  // --- talking -------------------------------------------------------------------------------

  private get pipeline() {
    return choosePipeline(this.pipelines, this.config?.pipeline ?? null);
  }

  private get busy(): boolean {
    const last = this.memory.exchanges[0];
    return last !== undefined && ["sending", "listening", "thinking"].includes(last.status);
  }

  private showExchange(exchange: Exchange): void {
    const others = this.memory.exchanges.filter((e) => e.id !== exchange.id);
    this.memory.exchanges = [exchange, ...others].slice(0, EXCHANGES_SHOWN);
    this.memory.changed();
  }

  /** How a typed request goes, and to which agent. */
  private textRoute(hass: HomeAssistant): {
    route: "chat" | "conversation";
    agent: string | null;
    fallbackAgent: string | null;
  } {
    const agents = jarvisAgents(hass).map((agent) => agent.entityId);
    const agent = this.config?.agent ?? null;
    return { route: chooseRoute(agent, agents), agent, fallbackAgent: agents[0] ?? null };
  }

  private async onSubmit(event: Event): Promise<void> {
    event.preventDefault();
    const text = this.draft.trim();
    const hass = this._hass;
    if (text === "" || this.busy || hass === undefined || this.config === undefined) return;
    this.draft = "";
    this.requestUpdate();
    const exchange = await sendText(
      this.api,
      { text, ...this.textRoute(hass), conversationId: this.memory.conversationId, language: hass.language },
      (current) => this.showExchange(current),
    );
    this.memory.conversationId = exchange.reply.conversationId ?? this.memory.conversationId;
  }

  private onInput(event: Event): void {
    this.draft = (event.target as HTMLInputElement).value;
    this.requestUpdate();
  }

  private startVoice(event: Event): void {
    event.preventDefault();
    const pipeline = this.pipeline;
    if (this.voice !== null || this.busy || pipeline === null || !pipeline.stt_engine) return;
    if (event instanceof PointerEvent && event.target instanceof Element) {
      event.target.setPointerCapture(event.pointerId);
    }
    const session = new VoiceSession(
      this.api,
      pipeline,
      this.memory.conversationId,
      (exchange) => {
        this.showExchange(exchange);
        if (["done", "error", "speaking"].includes(exchange.status) && this.voice === session) {
          this.voice = null;
          this.memory.conversationId = exchange.reply.conversationId ?? this.memory.conversationId;
          void this.loadTurns();
        }
      },
      (url) => this.play(url),
    );
    this.voice = session;
    void session.start();
  }

  private stopVoice(): void {
    this.voice?.release();
  }

  private onVoiceKey(event: KeyboardEvent): void {
    if (event.key !== " " && event.key !== "Enter") return;
    if (event.type === "keydown" && !event.repeat) this.startVoice(event);
    if (event.type === "keyup") this.stopVoice();
  }

  private play(url: string): void {
    const full = this._hass?.hassUrl?.(url) ?? url;
    const audio = new Audio(full);
    audio.play().catch(() => undefined); // autoplay refused: the text is there
  }

  // --- render --------------------------------------------------------------------------------

  protected override render(): TemplateResult | typeof nothing {
    const hass = this._hass;
    const config = this.config;
    if (hass === undefined || config === undefined) return nothing;
    const t = this.t;
    const connected = hass.connected && this.socketUp;
    return html`
      <ha-card>
        <div class="header">
          <div class="title">${config.title ?? t("card.title")}</div>
          ${config.showAgents ? this.renderServers(hass, t) : nothing}
        </div>
        ${connected ? nothing : html`<div class="banner" role="status">${t("connection.lost")}</div>`}
        ${this.renderSatellites(hass, config, t, connected)}
        ${config.showAgents ? this.renderAgents(hass, config, t) : nothing}
        ${config.showTalk ? this.renderTalk(t, connected) : nothing}
        ${config.turns > 0 ? this.renderTurns(hass, t) : nothing}
      </ha-card>
    `;
  }

  private renderServers(hass: HomeAssistant, t: Localize): TemplateResult {
    const servers = jarvisServers(hass);
    if (servers.length === 0) {
      return html`<div class="servers"><span class="pill"><span class="dot"></span>${t("server.none")}</span></div>`;
    }
    return html`<div class="servers">
      ${servers.map((server) => {
        const [cls, label] =
          server.reachable === true
            ? ["ok", t("server.reachable")]
            : server.reachable === false
              ? ["bad", t("server.unreachable")]
              : ["", t("server.unknown")];
        return html`<span class="pill server ${cls}" data-entity=${server.entityId} title=${server.name}
          ><span class="dot"></span>${label}</span
        >`;
      })}
    </div>`;
  }

  private satelliteOf(hass: HomeAssistant, id: string, connected: boolean): SatelliteView {
    const view = satelliteView(hass, id);
    const live = this.liveStates.get(id);
    if (live !== undefined) {
      view.activity = activityOf(live);
      view.connected = view.activity !== "disconnected";
    }
    if (!connected) view.activity = "unknown";
    return view;
  }

  private renderSatellites(
    hass: HomeAssistant,
    config: ResolvedConfig,
    t: Localize,
    connected: boolean,
  ): TemplateResult {
    const ids = satelliteIds(hass, config.satellites);
    return html`<section class="satellites">
      <h3>${t("section.satellites")}</h3>
      ${ids.length === 0 ? html`<div class="muted-text">${t("satellite.none")}</div>` : nothing}
      ${ids.map((id) => {
        const sat = this.satelliteOf(hass, id, connected);
        const volume =
          sat.volume === null
            ? null
            : sat.volume.kind === "level"
              ? t("satellite.volume", { value: `${sat.volume.percent} %` })
              : t("satellite.mic_volume", { value: `×${sat.volume.factor.toFixed(1)}` });
        return html`<div
          class="satellite"
          data-entity=${sat.entityId}
          data-activity=${sat.activity}
          data-connected=${String(sat.connected)}
        >
          <ha-icon .icon=${ACTIVITY_ICONS[sat.activity]}></ha-icon>
          <div class="grow">
            <div class="name">${sat.area ?? t("satellite.no_area")}</div>
            <div class="sub">
              ${sat.name}${sat.muted === true ? html` · <span class="muted">${t("satellite.muted")}</span>` : nothing}${volume !== null
                ? html` · <span class="volume">${volume}</span>`
                : nothing}
            </div>
          </div>
          <span class="chip activity ${sat.activity}">${t(`activity.${sat.activity}`)}</span>
        </div>`;
      })}
    </section>`;
  }

  private renderAgents(hass: HomeAssistant, config: ResolvedConfig, t: Localize): TemplateResult | typeof nothing {
    const agents = jarvisAgents(hass, config.agent ?? undefined);
    if (agents.length === 0) return nothing;
    return html`<section class="agents">
      <h3>${t("section.agents")}</h3>
      ${agents.map((agent) => {
        const figures: string[] = [];
        if (agent.latencyS !== null) figures.push(t("agent.latency", { value: formatDuration(agent.latencyS * 1000) }));
        if (agent.tokensPerSecond !== null)
          figures.push(t("agent.speed", { value: agent.tokensPerSecond.toFixed(1) }));
        return html`<div class="agent" data-entity=${agent.entityId}>
          <span class="name">${agent.name}</span>
          <span class="sub figures">${figures.length > 0 ? figures.join(" · ") : t("agent.no_figures")}</span>
        </div>`;
      })}
    </section>`;
  }

  private renderTalk(t: Localize, connected: boolean): TemplateResult {
    const pipeline = this.pipeline;
    const voiceReady = connected && pipeline !== null && Boolean(pipeline.stt_engine) && micSupported();
    const recording = this.voice?.exchange.status === "listening";
    const hass = this._hass as HomeAssistant;
    const { route, agent, fallbackAgent } = this.textRoute(hass);
    const agentId = agent ?? fallbackAgent;
    const agentName =
      agentId === null ? null : (jarvisAgents(hass, agentId)[0]?.name ?? satelliteView(hass, agentId).name);
    let voiceNote: string | null = null;
    if (!micSupported()) voiceNote = t("talk.no_mic");
    else if (pipeline === null || !pipeline.stt_engine) voiceNote = t("talk.no_pipeline");
    return html`<section class="talk">
      <h3>${t("section.talk")}</h3>
      <form @submit=${(event: Event) => void this.onSubmit(event)}>
        <input
          type="text"
          name="text"
          autocomplete="off"
          enterkeyhint="send"
          .value=${this.draft}
          placeholder=${t("talk.placeholder")}
          aria-label=${t("talk.placeholder")}
          @input=${(event: Event) => this.onInput(event)}
        />
        <button type="submit" class="send" ?disabled=${!connected || this.busy || this.draft.trim() === ""}>
          <ha-icon icon="mdi:send"></ha-icon>${t("talk.send")}
        </button>
        <button
          type="button"
          class="secondary ptt ${recording ? "active" : ""}"
          ?disabled=${!voiceReady || (this.busy && !recording)}
          aria-pressed=${String(recording)}
          @pointerdown=${(event: PointerEvent) => this.startVoice(event)}
          @pointerup=${() => this.stopVoice()}
          @pointercancel=${() => this.stopVoice()}
          @keydown=${(event: KeyboardEvent) => this.onVoiceKey(event)}
          @keyup=${(event: KeyboardEvent) => this.onVoiceKey(event)}
          @contextmenu=${(event: Event) => event.preventDefault()}
        >
          <ha-icon icon="mdi:microphone"></ha-icon>${recording ? t("talk.release") : t("talk.hold")}
        </button>
      </form>
      ${voiceNote !== null ? html`<div class="note">${voiceNote}</div>` : nothing}
      ${this.memory.exchanges.map((exchange) => this.renderExchange(exchange, t))}
      <div class="note route" data-route=${route}>
        ${route === "chat" ? t("talk.via_chat") : t("talk.via_conversation")}${agentName !== null
          ? ` · ${agentName}`
          : nothing}
      </div>
    </section>`;
  }

  private renderExchange(exchange: Exchange, t: Localize): TemplateResult {
    const status =
      exchange.status === "listening"
        ? t("talk.listening")
        : exchange.status === "sending" || exchange.status === "thinking"
          ? t("talk.thinking")
          : "";
    const error =
      exchange.error === "mic_denied"
        ? t("talk.mic_denied")
        : exchange.error !== null
          ? t("talk.error", { message: exchange.error })
          : null;
    return html`<div class="exchange" data-status=${exchange.status} data-voice=${String(exchange.voice)}>
      <div class="said">${exchange.said || (exchange.voice ? "🎤" : "")}</div>
      <div class="reply" aria-live="polite">${exchange.reply.text || status}</div>
      ${error !== null ? html`<div class="error">${error}</div>` : nothing}
    </div>`;
  }

  private renderTurns(hass: HomeAssistant, t: Localize): TemplateResult {
    const language = hass.locale?.language ?? hass.language;
    return html`<section class="turns">
      <h3>${t("section.turns")}</h3>
      ${this.turnsProblem === "admin_only"
        ? html`<div class="muted-text">${t("turns.admin_only")}</div>`
        : this.memory.turns.length === 0
          ? html`<div class="muted-text">${t("turns.none")}</div>`
          : nothing}
      <ol>
        ${this.memory.turns.map((turn) => this.renderTurn(hass, turn, t, language))}
      </ol>
    </section>`;
  }

  private renderTurn(hass: HomeAssistant, turn: Turn, t: Localize, language: string): TemplateResult {
    const where =
      turn.satelliteId !== null
        ? (areaOf(hass, turn.satelliteId) ?? satelliteView(hass, turn.satelliteId).name)
        : turn.spans.some((span) => span.stage === "speech" || span.stage === "stt")
          ? t("turns.browser")
          : t("turns.typed");
    const started = new Date(turn.startedAt);
    const time = Number.isNaN(started.getTime())
      ? ""
      : started.toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const bars = stageBars(turn);
    return html`<li class="turn" data-run=${turn.id}>
      <div class="turn-head">
        <span class="time">${time}</span><span class="where">${where}</span>
        ${turn.processedLocally === true ? html`<span class="badge">${t("turns.local")}</span>` : nothing}
        ${turn.tools.length > 0
          ? html`<span class="badge tools">${t("turns.tools", { names: turn.tools.join(", ") })}</span>`
          : nothing}
        ${turn.totalMs !== null
          ? html`<span class="total">${t("turns.total", { value: formatDuration(turn.totalMs) })}</span>`
          : nothing}
      </div>
      ${turn.heard !== null ? html`<div class="heard">“${turn.heard}”</div>` : nothing}
      ${turn.reply !== null ? html`<div class="answer">→ ${turn.reply}</div>` : nothing}
      ${turn.error !== null ? html`<div class="error">${t("talk.error", { message: turn.error })}</div>` : nothing}
      ${bars.length > 0
        ? html`<div class="bars">
            ${bars.map(
              (bar) =>
                html`<span class="label">${t(`stage.${bar.stage}`)}</span
                  ><span class="track"
                    ><span
                      class="bar ${bar.stage}"
                      data-stage=${bar.stage}
                      style="left:${bar.offsetPct}%;width:${bar.widthPct}%"
                    ></span></span
                  ><span class="ms">${formatDuration(bar.ms)}</span>`,
            )}
          </div>`
        : nothing}
    </li>`;
  }
}
