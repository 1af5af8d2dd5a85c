"""The whole demo stack: speech servers, a real Home Assistant, a satellite, and how to drive it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
import logging
import os
from pathlib import Path
import time
from typing import Any
import wave

from homeassistant import block_async_io, bootstrap, runner
from homeassistant.auth.const import GROUP_ID_ADMIN
from homeassistant.components.assist_pipeline.pipeline import KEY_ASSIST_PIPELINE
from homeassistant.components.http.config import async_get_and_load_store
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_STATE_CHANGED, RESTART_EXIT_CODE
from homeassistant.core import CoreState, Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import area_registry as ar, device_registry as dr
import numpy as np
import soxr
from wyoming.client import AsyncTcpClient
from wyoming.event import Event as WyomingEvent

from .home import ENTITY_AREAS, ROOMS, async_arrange_home, async_setup_home, write_config_dir
from .processes import Child, free_port, python_module
from .progress import Progress
from .report import RequestReport, StateChange, pipeline_stage_times, pipeline_texts
from .ui import UI_CONFIGURATION, UiAccess, async_setup_ui, write_ui_storage
from .utterance import read_wav_mono16k
from .voice import (
    ReplyVoice,
    async_add_jarvis,
    async_add_wyoming_service,
    async_create_pipeline,
    async_reply_voice,
    async_wait_for_entity,
    entity_of,
)

HOST = "127.0.0.1"
MIC_RATE = 48000
SPEAKER_RATE = 48000
FRAME_S = 0.01
# The satellite's local control request (empty: change nothing) and its answer, its status.
SATELLITE_CONTROL = "jarvis-satellite-control"
SATELLITE_STATE = "jarvis-satellite-state"


async def satellite_status(host: str, port: int, timeout: float = 5.0) -> dict[str, Any]:
    """The satellite's status dict (`Satellite.status()`), asked with an empty control request."""
    async with asyncio.timeout(timeout), AsyncTcpClient(host, port) as client:
        await client.write_event(WyomingEvent(type=SATELLITE_CONTROL, data={}))
        while (event := await client.read_event()) is not None:
            if event.type == SATELLITE_STATE:
                return dict(event.data)
    raise ConnectionError("the satellite closed the connection")


@dataclass
class StackOptions:
    """How to run the stack."""

    work_dir: Path
    ollama_url: str
    model: str
    language: str = "en"
    live_mic: bool = False  # the satellite listens to the real microphone and speaker
    speech_ports: tuple[int, int] | None = None  # (STT, TTS) of servers already running
    # Not the kitchen: for a command on its own room HA answers with a chime, not speech.
    satellite_area: str = ROOMS[3].name
    ui: bool = False  # HA's frontend with the Jarvis card on its dashboard (`--ui`)
    stt_model: str | None = None  # default: bundled tiny.en for English, multilingual base else
    tts_voice: str | None = None  # Piper voice name or .onnx path (default: the bundled joe)
    stt_args: tuple[str, ...] = ()  # more flags for the STT server (e.g. --early-end-ms 300)

    @property
    def whisper_model(self) -> str:
        """The Whisper model the STT server loads."""
        return self.stt_model or ("tiny.en" if self.language == "en" else "base")


@dataclass
class Stack:
    """Running pieces of the demo, and what the satellite said and played."""

    options: StackOptions
    progress: Progress
    servers: Child | None = None
    satellite: Child | None = None
    satellite_port: int = 0
    hass: HomeAssistant | None = None
    stt_port: int = 0
    tts_port: int = 0
    pipeline_id: str = ""
    speaker: list[tuple[datetime, bytes]] = field(default_factory=list)  # arrival, PCM
    reply_pcm: bytes = b""  # what the speaker played for the last request
    owns_hass: bool = False
    mic_seconds: float = 0.0  # audio written to the satellite's microphone so far
    http_port: int = 0  # HA's API, when the stack started HA itself
    jarvis_entry: ConfigEntry | None = None
    ui: UiAccess | None = None  # how to open the dashboard, with options.ui
    reply_voice: ReplyVoice | None = None  # the Piper voice the pipeline speaks with
    _reader: asyncio.Task[None] | None = None

    # --- start -----------------------------------------------------------------------------

    async def async_start(self) -> None:
        """Start everything, in the order a user would set it up."""
        if self.hass is None:
            async with self.progress.step("Starting Home Assistant (throwaway config)"):
                self.hass = await self._async_start_hass()
                self.owns_hass = True
        else:  # a running HA was handed in (tests): add the demo home to it
            await async_setup_home(self.hass, self.options.language)
        if self.options.speech_ports is not None:
            self.stt_port, self.tts_port = self.options.speech_ports
        else:
            await self._async_start_servers()
        await self._async_start_satellite_and_wire()
        if self.options.ui and self.owns_hass:
            assert self.hass is not None
            self.ui = await async_setup_ui(self.hass, self.http_port)

    async def _async_start_servers(self) -> None:
        work = self.options.work_dir
        self.stt_port, self.tts_port = free_port(), free_port()
        args = [
            "--stt-uri",
            f"tcp://{HOST}:{self.stt_port}",
            "--tts-uri",
            f"tcp://{HOST}:{self.tts_port}",
        ]
        args += ["--model", self.options.whisper_model, "--language", self.options.language]
        if self.options.tts_voice:
            args += ["--tts-voice", self.options.tts_voice]
        args += self.options.stt_args
        env: dict[str, str] = {}
        if self.owns_hass and self.http_port and self.options.language == "en":
            # The STT server biases Whisper with the home's room and device names, read from HA.
            # Not in French: the demo home's names are English, and as a prompt they turned a
            # French "allume la lumière" into "Light power." (multilingual base).
            args += ["--ha-url", f"http://{HOST}:{self.http_port}"]
            env["HA_TOKEN"] = await self._async_speech_token()
        self.servers = Child(
            "speech servers",
            python_module("wyoming_servers", *args),
            work / "speech-servers.log",
            env=env,
        )
        await self.servers.async_start()
        voice = Path(self.options.tts_voice).name if self.options.tts_voice else "joe"
        models = f"faster-whisper {self.options.whisper_model}, Piper {voice}"
        async with self.progress.step(f"Loading speech models ({models})"):
            await self.servers.async_wait_ready(HOST, self.stt_port, timeout=180)
            await self.servers.async_wait_ready(HOST, self.tts_port, timeout=60)

    async def _async_speech_token(self) -> str:
        """An access token for the speech servers, as a user would make one in their profile."""
        assert self.hass is not None
        auth = self.hass.auth
        user = await auth.async_create_system_user(
            "Jarvis speech servers", group_ids=[GROUP_ID_ADMIN]
        )
        refresh = await auth.async_create_refresh_token(
            user, access_token_expiration=timedelta(days=1)
        )
        return auth.async_create_access_token(refresh)

    async def _async_start_satellite_and_wire(self) -> None:
        sat_port = self.satellite_port = free_port()
        self.satellite = Child(
            "satellite",
            python_module("satellite", *self._satellite_args(sat_port)),
            self.options.work_dir / "satellite.log",
            pipe_stdin=not self.options.live_mic,
            pipe_stdout=not self.options.live_mic,
        )
        await self.satellite.async_start()
        async with self.progress.step("Starting the satellite (wake word and VAD models)"):
            await self.satellite.async_wait_ready(HOST, sat_port, timeout=60)
        if self.satellite.process is not None and self.satellite.process.stdout is not None:
            self._reader = asyncio.create_task(self._read_speaker(self.satellite.process.stdout))

        async with self.progress.step("Connecting HA: Wyoming STT/TTS, Jarvis agent, pipeline"):
            await self._async_wire(sat_port)

    async def _async_start_hass(self) -> HomeAssistant:
        config_dir = self.options.work_dir / "config"
        self.http_port = free_port()
        ui = self.options.ui
        write_config_dir(
            config_dir, self.http_port, self.options.language, UI_CONFIGURATION if ui else None
        )
        if ui:
            write_ui_storage(config_dir)
        # HA logs to a file only; the terminal shows the demo's own report.
        root = logging.getLogger()
        if not root.handlers:
            handler = logging.FileHandler(self.options.work_dir / "home-assistant.log")
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s [%(name)s] %(message)s")
            )
            root.addHandler(handler)
        root.setLevel(logging.INFO)
        hass = await self._async_boot_hass(config_dir)
        # HA 2026.10 takes new HTTP settings on trial: unconfirmed, it reverts them and restarts
        # after 5 minutes (and its web UI asks). The demo's settings are meant: confirm them.
        http_store = await async_get_and_load_store(hass)
        if http_store.pending is not None:
            await http_store.async_promote_pending()
        async_arrange_home(hass)
        return hass

    @staticmethod
    async def _async_boot_hass(config_dir: Path) -> HomeAssistant:
        hass = await bootstrap.async_setup_hass(
            runner.RuntimeConfig(config_dir=str(config_dir), skip_pip=True, log_no_color=True)
        )
        if hass is None:
            raise RuntimeError("Home Assistant failed to start; see home-assistant.log")
        await hass.async_start()
        await hass.async_block_till_done()
        return hass

    async def async_wait_hass_stopped(self) -> int:
        """Wait until HA stops (e.g. Settings → Restart in its UI); its exit code."""
        while self.hass is not None and self.hass.state is not CoreState.stopped:
            await asyncio.sleep(0.1)
        return self.hass.exit_code if self.hass is not None else 0

    async def async_restart_hass(self) -> None:
        """Start HA again on the same config folder and port, as after a restart from its UI.

        Everything set up comes back from HA's own storage (entries, pipeline, users, dashboard);
        the speech servers and the satellite keep running, and HA reconnects to them.
        """
        assert self.owns_hass and self.hass is not None
        if self.hass.state is not CoreState.stopped:
            await self.hass.async_stop(RESTART_EXIT_CODE)
        # HA expects a new process after a restart: undo the two process-wide marks a stopped HA
        # leaves (its event loop "shutting down", blocking-call guards installed) so that a new
        # HA can start in this one.
        with contextlib.suppress(AttributeError):
            delattr(asyncio.get_running_loop(), "_shutdown_run_callback_threadsafe")
        block_async_io._BLOCKED_CALLS.calls.clear()  # noqa: SLF001
        self.hass = await self._async_boot_hass(self.options.work_dir / "config")
        self.jarvis_entry = next(iter(self.hass.config_entries.async_entries("jarvis")), None)
        await self._async_wait_satellite_running(timeout=30)

    def _satellite_args(self, port: int) -> list[str]:
        args = [
            "run",
            "--name",
            "Demo satellite",
            "--area",
            self.options.satellite_area,
            "--server-host",
            HOST,
            "--server-port",
            str(port),
            "--server-zeroconf",
            "false",
            "--log-level",
            "DEBUG",
        ]
        if self.options.live_mic:
            return args
        # Microphone = raw PCM we feed on stdin; speaker = raw PCM we read on stdout.
        # No chimes: the speaker stream then holds only the reply.
        return [
            *args,
            "--mic-file",
            "-",
            "--mic-rate",
            str(MIC_RATE),
            "--speaker-file",
            "-",
            "--speaker-rate",
            str(SPEAKER_RATE),
            "--sounds-wake",
            "none",
            "--sounds-done",
            "none",
        ]

    async def _async_wire(self, sat_port: int) -> None:
        hass = self.hass
        assert hass is not None
        stt_entry = await async_add_wyoming_service(hass, HOST, self.stt_port)
        tts_entry = await async_add_wyoming_service(hass, HOST, self.tts_port)
        jarvis = await async_add_jarvis(hass, self.options.ollama_url, self.options.model)
        self.jarvis_entry = jarvis
        self.reply_voice = await async_reply_voice(
            HOST, self.tts_port, self.options.language, hass.config.country
        )
        pipeline = await async_create_pipeline(
            hass,
            conversation_engine=entity_of(hass, jarvis, "conversation"),
            stt_engine=entity_of(hass, stt_entry, "stt"),
            tts_engine=entity_of(hass, tts_entry, "tts"),
            language=self.options.language,
            tts_language=self.reply_voice.language,
        )
        self.pipeline_id = pipeline.id
        sat_entry = await async_add_wyoming_service(hass, HOST, sat_port)
        await async_wait_for_entity(hass, sat_entry, "assist_satellite")
        # Put the satellite's device in its room, as a user does in HA's device page.
        devices = dr.async_get(hass)
        if area := ar.async_get(hass).async_get_area_by_name(self.options.satellite_area):
            for device in dr.async_entries_for_config_entry(devices, sat_entry.entry_id):
                devices.async_update_device(device.id, area_id=area.id)
        await self._async_wait_satellite_running()

    async def _async_wait_satellite_running(self, timeout: float = 15.0) -> None:
        """HA connects to the satellite and sends run-satellite: its status leaves "paused"."""
        assert self.satellite is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = await satellite_status(HOST, self.satellite_port)
            if status["connected"] and status["state"] != "paused":
                return
            await asyncio.sleep(0.1)
        raise TimeoutError(f"HA did not start the satellite; see {self.satellite.log_path}")

    async def async_turn_off_satellite_room_light(self) -> str:
        """Switch off the light of the satellite's room (as a user would first); its entity id."""
        assert self.hass is not None
        room = next(r for r in ROOMS if r.name == self.options.satellite_area)
        await self.hass.services.async_call(
            "light", "turn_off", {"entity_id": room.light_entity_id}, blocking=True
        )
        return room.light_entity_id

    # --- one request ------------------------------------------------------------------------

    async def async_request(self, wav: Path, timeout: float = 60.0) -> RequestReport:
        """Play `wav` into the satellite's microphone and report what happened."""
        hass, satellite = self.hass, self.satellite
        assert hass is not None and satellite is not None and satellite.process is not None
        stdin = satellite.process.stdin
        assert stdin is not None
        changes: list[StateChange] = []
        unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, _change_recorder(changes))
        runs_before = set(self.debug_runs())
        audio = await asyncio.to_thread(read_wav_mono16k, wav)
        mic_start = datetime.now(UTC)
        # The satellite's clock is the audio it has heard: this request starts where it is now.
        audio_offset = self.mic_seconds
        feeder = asyncio.create_task(self._feed_microphone(stdin, audio))
        report = RequestReport()
        try:
            events = await self._async_wait_run(runs_before, timeout)
            await self._async_wait_speaker_quiet(mic_start)
        except TimeoutError:
            report.error = f"no complete pipeline run within {timeout:.0f} s"
            events = []
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            unsub()
        report.changes = changes
        report.transcript, report.reply = pipeline_texts(events)
        report.stage_times = pipeline_stage_times(events, mic_start)
        try:
            report.stage_times.update(await self._satellite_times(audio_offset))
        except (OSError, TimeoutError) as err:
            report.error = report.error or f"no status from the satellite: {err!r}"
        if reply := [at for at, _ in self.speaker if at >= mic_start]:
            report.stage_times["first_tts_audio"] = (reply[0] - mic_start).total_seconds()
            report.stage_times["last_tts_audio"] = (reply[-1] - mic_start).total_seconds()
        self.reply_pcm = b"".join(pcm for at, pcm in self.speaker if at >= mic_start)
        for event in events:
            if event["type"] == "error" and not report.error:
                report.error = str((event.get("data") or {}).get("message"))
        return report

    def debug_runs(self) -> dict[str, Any]:
        """HA's recorded runs of the demo pipeline, by run id."""
        assert self.hass is not None
        debug = self.hass.data[KEY_ASSIST_PIPELINE].pipeline_debug
        return dict(debug.get(self.pipeline_id, {}))

    async def _async_wait_run(self, before: set[str], timeout: float) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while True:
                for run_id, run in self.debug_runs().items():
                    if run_id in before:
                        continue
                    events = run_events(run)
                    if any(event["type"] == "run-end" for event in events):
                        return events
                await asyncio.sleep(0.05)

    async def _async_wait_speaker_quiet(
        self, since: datetime, quiet_s: float = 1.0, timeout: float = 10.0
    ) -> None:
        """Wait until the satellite has played the reply: audio came, then none for a while."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.speaker[-1][0] if self.speaker else None
            if last is not None and last >= since:
                if (datetime.now(UTC) - last).total_seconds() > quiet_s:
                    return
            await asyncio.sleep(0.05)

    async def _satellite_times(self, audio_offset: float) -> dict[str, float]:
        """Wake and end of speech of this request in its audio time, from the satellite's status.

        The satellite's clock is the microphone audio it has heard; this request's audio started
        at `audio_offset` on it.
        """
        status = await satellite_status(HOST, self.satellite_port)
        times: dict[str, float] = {}
        wake = status.get("last_wake")
        if wake is not None and wake["at_s"] >= audio_offset:
            times["wake"] = wake["at_s"] - audio_offset
        stopped = status.get("last_speech_stopped_s")
        if stopped is not None and stopped - audio_offset >= times.get("wake", 0.0):
            times["end_of_speech"] = stopped - audio_offset
        return times

    async def _feed_microphone(self, stdin: asyncio.StreamWriter, audio16k: np.ndarray) -> None:
        """Write audio in real time (10 ms frames at 48 kHz), then room tone until cancelled."""
        audio = soxr.resample(audio16k, 16000, MIC_RATE, quality="HQ")
        frame = int(MIC_RATE * FRAME_S)
        rng = np.random.default_rng(1)
        start = time.monotonic()
        index = 0
        while True:
            offset = index * frame
            block = audio[offset : offset + frame]
            if len(block) < frame:
                block = np.concatenate([block, rng.standard_normal(frame - len(block)) * 0.0015])
            stdin.write((np.clip(block, -1, 1) * 32767).astype("<i2").tobytes())
            await stdin.drain()
            self.mic_seconds += FRAME_S
            index += 1
            delay = start + index * FRAME_S - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def _read_speaker(self, stdout: asyncio.StreamReader) -> None:
        while chunk := await stdout.read(65536):
            self.speaker.append((datetime.now(UTC), chunk))

    def write_reply(self, path: Path) -> None:
        """Write what the satellite played as a WAV file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(SPEAKER_RATE)
            wav.writeframes(self.reply_pcm[: len(self.reply_pcm) // 2 * 2])

    # --- stop -------------------------------------------------------------------------------

    async def async_stop(self) -> None:
        """Stop HA (unless it was handed in) and every child process; nothing is left behind."""
        if self.hass is not None and self.owns_hass:
            with contextlib.suppress(Exception):
                await self.hass.async_stop()
            self.hass = None
        for child in (self.satellite, self.servers):
            if child is not None:
                await child.async_stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


def _change_recorder(changes: list[StateChange]) -> Callable[[Event[EventStateChangedData]], None]:
    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if event.data["entity_id"] not in ENTITY_AREAS or old is None or new is None:
            return
        if old.state != new.state:
            changes.append(StateChange(new.entity_id, new.name, old.state, new.state))

    return record


def run_events(run: Any) -> list[dict[str, Any]]:
    """A pipeline debug run's events as plain dicts (type, timestamp, data)."""
    return [
        {"type": str(event.type), "timestamp": event.timestamp, "data": event.data}
        for event in run.events
    ]


def default_ollama_url() -> str:
    """Where Ollama is: OLLAMA_HOST as the ollama CLI reads it, else its default address."""
    host = os.environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return "http://127.0.0.1:11434"
    if "://" not in host:
        host = f"http://{host}"
    if host.count(":") < 2:
        host = f"{host}:11434"
    return host
