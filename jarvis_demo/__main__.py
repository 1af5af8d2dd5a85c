"""`script/demo`: the whole Jarvis chain on bundled models, with nothing to configure.

A real Home Assistant (throwaway config) with a demo home, Jarvis as its conversation agent,
HA's own Wyoming integration using our STT/TTS servers and a satellite whose microphone is a
recording ("hey jarvis, turn off the kitchen light" unless --input is given; with --language fr,
"hey jarvis" + a recorded "allume la lumière"), or the real microphone with --mic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
from pathlib import Path
import shutil
import signal
import sys
import tempfile

from homeassistant.const import RESTART_EXIT_CODE

from audio_clips import clip

from .progress import Progress
from .report import RequestReport, pipeline_texts
from .stack import HOST, Stack, StackOptions, default_ollama_url, run_events
from .utterance import async_speak, read_wav_mono16k, write_utterance

DEFAULT_COMMAND = "Turn off the kitchen light."
FRENCH_COMMAND = "french/stp_fr_allume_la_lumiere.wav"
"""A person saying "allume la lumière" (audio_clips): the light of the satellite's room."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the demo."""
    parser = argparse.ArgumentParser(prog="script/demo", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input", type=Path, help="WAV file for the satellite's microphone ('hey jarvis, ...')"
    )
    parser.add_argument("--out", type=Path, help="write reply.wav and summary.json here")
    parser.add_argument(
        "--mic", action="store_true", help="listen to the real microphone until Ctrl-C"
    )
    parser.add_argument(
        "--ollama-url",
        default=default_ollama_url(),
        help="Ollama server for what local intents do not handle (default: $OLLAMA_HOST)",
    )
    parser.add_argument("--model", default="llama3.2", help="Ollama model (default llama3.2)")
    parser.add_argument(
        "--language",
        choices=("en", "fr"),
        default="en",
        help="HA's language and the pipeline's (fr: multilingual Whisper base, French intents)",
    )
    parser.add_argument(
        "--voice",
        metavar="NAME|PATH",
        help="Piper voice for the replies: an .onnx path or a voice name in "
        "~/.cache/jarvis/models/piper (default: the bundled en_US-joe-medium, or there a voice "
        "of --language if one is installed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder with the logs")
    parser.add_argument(
        "--ui",
        action="store_true",
        help="leave HA running with its web UI and the Jarvis card on the dashboard "
        "(user demo, password demo): Enter plays the recording again, Ctrl-C stops",
    )
    parser.add_argument(
        "--ui-state",
        type=Path,
        metavar="FILE",
        help="with --ui: write the dashboard's URL, login and a browser token set to FILE (JSON)",
    )
    args = parser.parse_args(argv)
    if args.ui and args.mic:
        parser.error("--ui and --mic do not go together")
    if args.ui_state is not None and not args.ui:
        parser.error("--ui-state needs --ui")
    return args


async def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when the request was understood and answered."""
    work = Path(tempfile.mkdtemp(prefix="jarvis-demo-"))
    steps = 5 if args.mic or args.ui else 6
    progress = Progress(steps)
    stack = Stack(
        StackOptions(
            work,
            args.ollama_url,
            args.model,
            language=args.language,
            live_mic=args.mic,
            ui=args.ui,
            tts_voice=args.voice,
        ),
        progress=progress,
    )
    report: RequestReport | None = None
    served = False  # --ui ran until stopped
    try:
        await stack.async_start()
        if stack.reply_voice is not None:
            print(f"Reply voice: {stack.reply_voice.describe(args.language)}", file=sys.stderr)
        if args.mic:
            return await _listen_forever(stack, progress)
        wav = args.input
        if wav is None and args.language == "fr":
            wav = work / "utterance.wav"
            async with progress.step("Recording: 'hey jarvis' + 'allume la lumière' (a person)"):
                command = await asyncio.to_thread(read_wav_mono16k, clip(FRENCH_COMMAND))
                await asyncio.to_thread(write_utterance, wav, command)
                # The command turns the light of the satellite's room on: switch it off first.
                await stack.async_turn_off_satellite_room_light()
        if wav is None:
            wav = work / "utterance.wav"
            async with progress.step(f"Recording: 'hey jarvis' + '{DEFAULT_COMMAND}'"):
                command = await async_speak(HOST, stack.tts_port, DEFAULT_COMMAND)
                await asyncio.to_thread(write_utterance, wav, command)
        if args.ui:
            await _serve_ui(stack, wav, args.ui_state, work)
            served = True
            return 0
        async with progress.step(f"Playing {wav.name} into the satellite's microphone"):
            report = await stack.async_request(wav)
        out = args.out or Path.cwd()
        await asyncio.get_running_loop().run_in_executor(None, stack.write_reply, out / "reply.wav")
        if args.out:
            await asyncio.get_running_loop().run_in_executor(None, report.write, args.out)
        _print_report(report, out / "reply.wav")
    finally:
        await stack.async_stop()
        ok = served or (report is not None and bool(report.reply) and not report.error)
        if args.keep or not ok:
            print(f"logs and config kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


def _print_report(report: RequestReport, reply_wav: Path) -> None:
    print("\nWhat happened:")
    for line in report.lines():
        print(line)
    print(f"  reply audio: {reply_wav}")


async def _serve_ui(stack: Stack, wav: Path, state_file: Path | None, work: Path) -> None:
    """Keep HA and its dashboard up: each line on stdin plays `wav` again; stop on a signal."""
    access = stack.ui
    assert access is not None
    loop = asyncio.get_running_loop()
    if state_file is not None:
        extra = {"work_dir": str(work), "stt_port": stack.stt_port, "tts_port": stack.tts_port}
        await loop.run_in_executor(None, functools.partial(access.write, state_file, **extra))
    print(f"\nDashboard: {access.url}/  (user {access.username}, password {access.password})")
    print(f"Enter: play {wav.name} into the satellite's microphone; Ctrl-C: stop.", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lines = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(lines), sys.stdin)
    stopping = asyncio.create_task(stop.wait())
    reading: asyncio.Task[bytes] | None = asyncio.create_task(lines.readline())
    try:
        while not stop.is_set():
            ha_stopped = asyncio.create_task(stack.async_wait_hass_stopped())
            waiting = {stopping, ha_stopped} | ({reading} if reading is not None else set())
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if ha_stopped.done():  # Settings → Restart (or Stop) in HA's UI
                if ha_stopped.result() != RESTART_EXIT_CODE:
                    print("Home Assistant was stopped from its UI.", flush=True)
                    break
                print("Home Assistant is restarting ...", flush=True)
                await stack.async_restart_hass()
                print("Home Assistant restarted.", flush=True)
                continue
            ha_stopped.cancel()
            if stopping.done() or reading is None or not reading.done():
                continue
            line = reading.result()
            # An empty read: stdin is closed (run in the background), serve until stopped.
            reading = asyncio.create_task(lines.readline()) if line else None
            if not line:
                continue
            report = await stack.async_request(wav)
            print("\nWhat happened:")
            for report_line in report.lines():
                print(report_line)
            print("Enter: play it again; Ctrl-C: stop.", flush=True)
    finally:
        for task in (reading, stopping):
            if task is not None:
                task.cancel()


async def _listen_forever(stack: Stack, progress: Progress) -> int:
    print("Listening: say 'hey jarvis' and a command (Ctrl-C to stop).", file=sys.stderr)
    seen: set[str] = set(stack.debug_runs())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        for run_id, run in stack.debug_runs().items():
            events = run_events(run)
            if run_id in seen or not any(e["type"] == "run-end" for e in events):
                continue
            seen.add(run_id)
            transcript, reply = pipeline_texts(events)
            print(f"  heard {transcript!r} -> {reply!r}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.2)
    del progress
    return 0


def main() -> None:
    """Entry point."""
    args = parse_args()
    try:
        sys.exit(asyncio.run(run(args)))
    except KeyboardInterrupt:
        sys.exit(130)
    except (RuntimeError, TimeoutError, OSError) as err:  # a piece did not start: say which
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
