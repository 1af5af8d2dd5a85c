"""The satellite's Assist entity: pipelines on its audio, announcements, conversations, timers.

Modelled on HA's `wyoming` satellite entity, over the entry's `SatelliteLink`:

- The satellite hears its wake word and sends `run-pipeline` then the command audio; HA's
  Assist pipeline runs on it, and the pipeline's events go back (`transcript`, `synthesize`,
  the reply as `audio-*`) until the satellite says `played`.
- ANNOUNCE: the preannounce sound then the media (TTS or any URL) converted to the
  satellite's speaker format with HA's ffmpeg, streamed as `audio-*`; done on `played`.
- START_CONVERSATION (so also `assist_satellite.ask_question`): the announcement, then
  `run-pipeline` (asr -> tts) from HA: the satellite opens its microphone without the wake
  word and streams the answer. Follow-ups (a reply asking back) are the satellite's own.
- Timers from HA's intents are forwarded as `timer-*` events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
import contextlib
import logging
from typing import Any, override

from homeassistant.components import intent, tts
from homeassistant.components.assist_pipeline import PipelineEvent, PipelineEventType
from homeassistant.components.assist_pipeline.models import PipelineStage as AssistStage
from homeassistant.components.assist_satellite import (
    AssistSatelliteAnnouncement,
    AssistSatelliteConfiguration,
    AssistSatelliteEntity,
    AssistSatelliteEntityDescription,
    AssistSatelliteEntityFeature,
    AssistSatelliteWakeWord,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.snd import Played
from wyoming.timer import TimerCancelled, TimerFinished, TimerStarted, TimerUpdated
from wyoming.tts import Synthesize, SynthesizeVoice
from wyoming.vad import VoiceStarted, VoiceStopped
from wyoming.wake import Detect, Detection

from .const import DOMAIN
from .media_convert import PcmFormat, async_send_voice, resolve_source, speaker_format
from .satellite_runtime import SatelliteConfigEntry, SatelliteEntity

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0
PLAYED_EXTRA_S = 1.0  # after the audio's length, stop waiting for `played`
_STAGES = {
    PipelineStage.WAKE: AssistStage.WAKE_WORD,
    PipelineStage.ASR: AssistStage.STT,
    PipelineStage.HANDLE: AssistStage.INTENT,
    PipelineStage.TTS: AssistStage.TTS,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The satellite's Assist entity."""
    async_add_entities([JarvisAssistSatellite(entry)])


class JarvisAssistSatellite(SatelliteEntity, AssistSatelliteEntity):
    """Assist on a Jarvis satellite."""

    entity_description = AssistSatelliteEntityDescription(key="assist_satellite")
    _attr_name = None
    _attr_supported_features = (
        AssistSatelliteEntityFeature.ANNOUNCE | AssistSatelliteEntityFeature.START_CONVERSATION
    )

    def __init__(self, entry: SatelliteConfigEntry) -> None:
        """The satellite of `entry`."""
        SatelliteEntity.__init__(self, entry, "assist_satellite")
        AssistSatelliteEntity.__init__(self)
        self._converter = AudioChunkConverter(rate=16000, width=2, channels=1)
        self._audio_queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._pipeline_running = False
        self._wake_word_phrase: str | None = None
        self._played = asyncio.Event()
        self._tts_token: str | None = None
        self._tts_streaming = False
        self._run_id = 0

    # --- HA's satellite settings ---------------------------------------------------------

    def _own_entity_id(self, domain: str, key: str) -> str | None:
        satellite_id = self.entry.runtime_data.satellite_id
        return er.async_get(self.hass).async_get_entity_id(domain, DOMAIN, f"{satellite_id}-{key}")

    @property
    @override
    def pipeline_entity_id(self) -> str | None:
        """The pipeline select of this satellite."""
        return self._own_entity_id("select", "pipeline")

    @property
    @override
    def vad_sensitivity_entity_id(self) -> str | None:
        """The "finished speaking detection" select of this satellite."""
        return self._own_entity_id("select", "vad_sensitivity")

    @property
    @override
    def tts_options(self) -> dict[str, Any] | None:
        """Replies as WAV in the satellite's speaker format."""
        return {
            tts.ATTR_PREFERRED_FORMAT: "wav",
            tts.ATTR_PREFERRED_SAMPLE_RATE: self._speaker_format().rate,
            tts.ATTR_PREFERRED_SAMPLE_CHANNELS: 1,
            tts.ATTR_PREFERRED_SAMPLE_BYTES: 2,
        }

    def _speaker_format(self) -> PcmFormat:
        return speaker_format(self.link)

    @callback
    @override
    def async_get_configuration(self) -> AssistSatelliteConfiguration:
        """The satellite's wake words (bundled models) and the active one."""
        state = self.link.state
        available = [str(w) for w in state.get("wake_words_available") or []]
        active = state.get("wake_word")
        if isinstance(active, str) and active not in available:
            available.append(active)
        return AssistSatelliteConfiguration(
            available_wake_words=[
                AssistSatelliteWakeWord(id=w, wake_word=w.replace("_", " "), trained_languages=[])
                for w in available
            ],
            active_wake_words=[active] if isinstance(active, str) else [],
            max_active_wake_words=1,
        )

    @override
    async def async_set_configuration(self, config: AssistSatelliteConfiguration) -> None:
        """Switch the satellite's wake word."""
        if config.active_wake_words:
            await self.link.async_control(wake_word=config.active_wake_words[0])

    # --- life cycle ----------------------------------------------------------------------

    @override
    async def async_added_to_hass(self) -> None:
        """Take the satellite's events; forward timers of its device."""
        await super().async_added_to_hass()
        self.link.on_event = self._on_satellite_event
        if self.registry_entry is not None and self.registry_entry.device_id:
            self.async_on_remove(
                intent.async_register_timer_handler(
                    self.hass, self.registry_entry.device_id, self._handle_timer
                )
            )

    @override
    async def async_will_remove_from_hass(self) -> None:
        """Stop taking events and end a running pipeline."""
        self.link.on_event = None
        self._audio_queue.put_nowait(None)
        await self._cancel_running_pipeline()
        await super().async_will_remove_from_hass()

    @override
    def _async_link_changed(self) -> None:
        if not self.link.connected:
            self._audio_queue.put_nowait(None)  # the command audio will not come
        super()._async_link_changed()

    def _send(self, event: Event) -> None:
        self.entry.async_create_background_task(
            self.hass, self.link.async_send(event), f"{self.entity_id} {event.type}"
        )

    # --- events from the satellite -------------------------------------------------------

    @callback
    def _on_satellite_event(self, event: Event) -> None:
        if RunPipeline.is_type(event.type):
            self._run_pipeline(RunPipeline.from_event(event))
        elif AudioChunk.is_type(event.type):
            if self._pipeline_running:
                chunk = self._converter.convert(AudioChunk.from_event(event))
                self._audio_queue.put_nowait(chunk.audio)
        elif AudioStop.is_type(event.type):
            if self._pipeline_running:
                self._audio_queue.put_nowait(None)
        elif Detection.is_type(event.type):
            self._wake_word_phrase = self._phrase(Detection.from_event(event).name or "")
        elif Played.is_type(event.type):
            self._played.set()
            self.tts_response_finished()
        elif Error.is_type(event.type):
            _LOGGER.debug("%s: satellite error %s", self.entity_id, event.data)
        elif not AudioStart.is_type(event.type):
            _LOGGER.debug("%s: unexpected event %s", self.entity_id, event.type)

    def _phrase(self, name: str) -> str:
        """The phrase of a wake word model (so two satellites' wake-ups are told apart)."""
        info = self.link.info
        for program in info.wake if info is not None else []:
            for model in program.models:
                if model.name == name:
                    return model.phrase or model.name
        return name.replace("_", " ")

    def _run_pipeline(self, run: RunPipeline) -> None:
        start, end = _STAGES.get(run.start_stage), _STAGES.get(run.end_stage)
        if start is None or end is None:
            _LOGGER.warning("%s: cannot run stages %s", self.entity_id, run)
            return
        self._audio_queue.put_nowait(None)  # ends a pipeline still reading audio
        self._audio_queue = asyncio.Queue()
        self._pipeline_running = True
        self._run_id += 1
        phrase, self._wake_word_phrase = self._wake_word_phrase, None
        self.entry.async_create_background_task(
            self.hass,
            self.async_accept_pipeline_from_satellite(
                audio_stream=self._stt_stream(self._audio_queue),
                start_stage=start,
                end_stage=end,
                wake_word_phrase=phrase,
            ),
            f"{self.entity_id} pipeline",
        )

    @staticmethod
    async def _stt_stream(queue: asyncio.Queue[bytes | None]) -> AsyncGenerator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk

    # --- pipeline events to the satellite ------------------------------------------------

    @override
    def on_pipeline_event(self, event: PipelineEvent) -> None:
        """Tell the satellite what the pipeline does (as HA's wyoming satellite does)."""
        data = event.data or {}
        if event.type is PipelineEventType.RUN_END:
            self._pipeline_running = False
            self._tts_token = None
            self._tts_streaming = False
        elif event.type is PipelineEventType.RUN_START:
            if tts_output := data.get("tts_output"):
                self._tts_token = tts_output["token"]
                self._tts_streaming = False
        elif event.type is PipelineEventType.WAKE_WORD_START:
            self._send(Detect().event())
        elif event.type is PipelineEventType.WAKE_WORD_END:
            if output := data.get("wake_word_output"):
                self._send(
                    Detection(
                        name=output["wake_word_id"], timestamp=output.get("timestamp")
                    ).event()
                )
        elif event.type is PipelineEventType.STT_START and data:
            self._send(Transcribe(language=data["metadata"]["language"]).event())
        elif event.type is PipelineEventType.STT_VAD_START and data:
            self._send(VoiceStarted(timestamp=data["timestamp"]).event())
        elif event.type is PipelineEventType.STT_VAD_END and data:
            self._send(VoiceStopped(timestamp=data["timestamp"]).event())
        elif event.type is PipelineEventType.STT_END and data:
            self._send(Transcript(text=data["stt_output"]["text"]).event())
        elif event.type is PipelineEventType.INTENT_PROGRESS:
            if data.get("tts_start_streaming") and self._tts_token:
                self._start_tts(self._tts_token)
        elif event.type is PipelineEventType.TTS_START and data:
            voice = SynthesizeVoice(name=data.get("voice"), language=data.get("language"))
            self._send(Synthesize(text=data["tts_input"], voice=voice).event())
        elif event.type is PipelineEventType.TTS_END:
            if (output := data.get("tts_output")) and not self._tts_streaming:
                self._start_tts(output["token"])
        elif event.type is PipelineEventType.ERROR and data:
            self._send(Error(text=data["message"], code=data["code"]).event())

    def _start_tts(self, token: str) -> None:
        if (stream := tts.async_get_stream(self.hass, token)) is None:
            return
        self._tts_streaming = True
        self.entry.async_create_background_task(
            self.hass, self._async_stream_reply(stream, self._run_id), f"{self.entity_id} tts"
        )

    async def _async_stream_reply(self, stream: tts.ResultStream, run_id: int) -> None:
        """Send the reply (WAV) to the satellite; idle again on `played` or after its length."""
        seconds = await self._async_stream_wav(stream.async_stream_result())
        await asyncio.sleep(seconds + PLAYED_EXTRA_S)
        if run_id == self._run_id and not self._pipeline_running and not self._is_announcing:
            self.tts_response_finished()  # `played` never came

    async def _async_stream_wav(self, data: AsyncIterator[bytes]) -> float:
        header = b""
        fmt: PcmFormat | None = None
        sent = 0
        async for block in data:
            if fmt is None:
                header += block
                parsed = _parse_wav_header(header)
                if parsed is None:
                    continue
                fmt, block = parsed
                await self.link.async_send(AudioStart(fmt.rate, fmt.width, fmt.channels).event())
            for i in range(0, len(block), 4096):
                piece = block[i : i + 4096]
                await self.link.async_send(
                    AudioChunk(fmt.rate, fmt.width, fmt.channels, piece).event()
                )
                sent += len(piece)
        await self.link.async_send(AudioStop().event())
        return sent / fmt.bytes_per_second if fmt is not None else 0.0

    # --- announcements and conversations -------------------------------------------------

    @override
    async def async_announce(self, announcement: AssistSatelliteAnnouncement) -> None:
        """Play the preannounce sound and the announcement; return once it was heard."""
        if not self.link.connected:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="satellite_disconnected"
            )
        self._played.clear()
        sources = [announcement.preannounce_media_id, announcement.media_id]
        seconds = await async_send_voice(
            self.hass,
            self.link,
            [resolve_source(self.hass, url) for url in sources if url],
            self._speaker_format(),
        )
        if seconds:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds + PLAYED_EXTRA_S):
                    await self._played.wait()

    @override
    async def async_start_conversation(
        self, start_announcement: AssistSatelliteAnnouncement
    ) -> None:
        """Announce, then open the satellite's microphone without the wake word."""
        await self.async_announce(start_announcement)
        await self.link.async_send(
            RunPipeline(start_stage=PipelineStage.ASR, end_stage=PipelineStage.TTS).event()
        )

    # --- timers --------------------------------------------------------------------------

    @callback
    def _handle_timer(self, event_type: intent.TimerEventType, timer: intent.TimerInfo) -> None:
        event: Event | None = None
        if event_type == intent.TimerEventType.STARTED:
            event = TimerStarted(
                id=timer.id,
                total_seconds=timer.seconds,
                name=timer.name,
                start_hours=timer.start_hours,
                start_minutes=timer.start_minutes,
                start_seconds=timer.start_seconds,
            ).event()
        elif event_type == intent.TimerEventType.UPDATED:
            event = TimerUpdated(
                id=timer.id, is_active=timer.is_active, total_seconds=timer.seconds
            ).event()
        elif event_type == intent.TimerEventType.CANCELLED:
            event = TimerCancelled(id=timer.id).event()
        elif event_type == intent.TimerEventType.FINISHED:
            event = TimerFinished(id=timer.id).event()
        if event is not None:
            self._send(event)


def _parse_wav_header(data: bytes) -> tuple[PcmFormat, bytes] | None:
    """(format, audio after the header) once `data` holds a WAV header up to its data chunk.

    Streamed WAV often gives no length (0 or 0xFFFFFFFF): everything after `data` is audio.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk_id == b"fmt ":
            if pos + 24 > len(data):
                return None
            channels = int.from_bytes(data[pos + 10 : pos + 12], "little")
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
            bits = int.from_bytes(data[pos + 22 : pos + 24], "little")
            fmt = PcmFormat(rate, bits // 8, channels)
        elif chunk_id == b"data":
            return (fmt, data[pos + 8 :]) if fmt is not None else None
        pos += 8 + size + (size & 1)
    return None
