/**
 * Push-to-talk: the browser's microphone → 16-bit PCM → HA's `assist_pipeline/run` (from the STT
 * stage) as binary websocket messages, the way HA's own Assist dialog does it. HA's VAD ends the
 * request at the end of speech; releasing the button ends it too.
 */

import type { PipelineEvent, PipelineInfo } from "./pipeline-types.js";
import { applyPipelineEvent, errorText, newExchange, type Exchange } from "./talk.js";
import type { HassApi } from "./ws.js";

/** Float samples in [-1, 1] → 16-bit PCM (clipped). */
export function floatTo16(samples: Float32Array): Int16Array {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const value = Math.max(-1, Math.min(1, samples[i] ?? 0));
    pcm[i] = value < 0 ? Math.round(value * 0x8000) : Math.round(value * 0x7fff);
  }
  return pcm;
}

// Runs on the audio thread: hands each 128-sample block of the first channel to the page.
const WORKLET_SOURCE = `
class JarvisRecorder extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("jarvis-recorder", JarvisRecorder);
`;

export type MicProblem = "no_mic" | "mic_denied";

/** Whether this page may use the microphone at all (secure context, Web Audio worklets). */
export function micSupported(): boolean {
  return (
    typeof window !== "undefined" &&
    window.isSecureContext &&
    navigator.mediaDevices?.getUserMedia !== undefined &&
    typeof AudioWorkletNode !== "undefined"
  );
}

export class MicRecorder {
  private context: AudioContext | null = null;
  private stream: MediaStream | null = null;

  /** Start capturing; `onChunk` gets PCM blocks. Resolves with the sample rate. */
  async start(onChunk: (pcm: Int16Array) => void): Promise<number> {
    // No noise suppression or auto gain: they made Whisper mishear far more (README, card).
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false },
    });
    // 16 kHz is what HA's STT wants: the browser resamples, HA then has nothing to do.
    this.context = new AudioContext({ sampleRate: 16000 });
    const url = URL.createObjectURL(new Blob([WORKLET_SOURCE], { type: "text/javascript" }));
    try {
      await this.context.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
    const source = this.context.createMediaStreamSource(this.stream);
    const node = new AudioWorkletNode(this.context, "jarvis-recorder");
    node.port.onmessage = (event: MessageEvent<Float32Array>) => onChunk(floatTo16(event.data));
    source.connect(node);
    return this.context.sampleRate;
  }

  async stop(): Promise<void> {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    const context = this.context;
    this.context = null;
    if (context !== null && context.state !== "closed") await context.close();
  }
}

/** One push-to-talk request. */
export class VoiceSession {
  readonly exchange: Exchange;
  private readonly recorder = new MicRecorder();
  private handlerId: number | null = null;
  private pending: Int16Array[] = [];
  private recording = false;
  private unsubscribe: (() => Promise<void>) | null = null;
  private over = false;

  constructor(
    private readonly api: HassApi,
    private readonly pipeline: PipelineInfo,
    private readonly conversationId: string | null,
    private readonly onChange: (exchange: Exchange) => void,
    private readonly playAudio: (url: string) => void,
  ) {
    this.exchange = newExchange("", "pipeline", true);
  }

  /** Open the microphone and start the run. */
  async start(): Promise<void> {
    this.onChange(this.exchange);
    let sampleRate: number;
    try {
      this.recording = true;
      sampleRate = await this.recorder.start((pcm) => this.onAudio(pcm));
    } catch (error: unknown) {
      this.recording = false;
      const denied = error instanceof DOMException && error.name === "NotAllowedError";
      this.fail(denied ? "mic_denied" : errorText(error));
      return;
    }
    try {
      this.unsubscribe = await this.api.runPipeline(
        {
          start_stage: "stt",
          end_stage: this.pipeline.tts_engine ? "tts" : "intent",
          input: { sample_rate: sampleRate },
          pipeline: this.pipeline.id,
          conversation_id: this.conversationId,
        },
        (event) => this.onEvent(event),
      );
      if (this.over) await this.close();
    } catch (error: unknown) {
      this.fail(errorText(error));
    }
  }

  /** The button was released: the speech is over. */
  release(): void {
    void this.stopRecording();
  }

  private onAudio(pcm: Int16Array): void {
    if (!this.recording) return;
    if (this.handlerId === null) this.pending.push(pcm);
    else this.api.sendAudio(this.handlerId, pcm);
  }

  private onEvent(event: PipelineEvent): void {
    if (event.type === "run-start") {
      this.handlerId = event.data.runner_data?.stt_binary_handler_id ?? null;
      if (this.handlerId !== null) {
        for (const pcm of this.pending) this.api.sendAudio(this.handlerId, pcm);
        if (!this.recording) this.api.endAudio(this.handlerId);
      }
      this.pending = [];
    }
    if (event.type === "stt-vad-end" || event.type === "stt-end" || event.type === "error") {
      void this.stopRecording();
    }
    const over = applyPipelineEvent(this.exchange, event);
    if (event.type === "tts-end") this.playAudio(event.data.tts_output.url);
    this.onChange(this.exchange);
    if (over) {
      this.over = true;
      void this.close();
    }
  }

  private async stopRecording(): Promise<void> {
    if (!this.recording) return;
    this.recording = false;
    if (this.handlerId !== null) this.api.endAudio(this.handlerId);
    if (this.exchange.status === "listening") {
      this.exchange.status = "thinking";
      this.onChange(this.exchange);
    }
    await this.recorder.stop();
  }

  private fail(message: string): void {
    this.exchange.status = "error";
    this.exchange.error = message;
    this.onChange(this.exchange);
    void this.close();
  }

  private async close(): Promise<void> {
    await this.stopRecording();
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = null;
    if (unsubscribe !== null) await unsubscribe().catch(() => undefined);
  }
}
