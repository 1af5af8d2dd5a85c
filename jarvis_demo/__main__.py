"""`script/demo`: the whole Jarvis chain on bundled models, with nothing to configure.

A real Home Assistant (throwaway config) with a demo home, Jarvis as its conversation agent,
HA's own Wyoming integration using our STT/TTS servers and a satellite whose microphone is a
recording ("hey jarvis, turn off the kitchen light" unless --input is given), or the real
microphone with --mic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path
import shutil
import signal
import sys
import tempfile

from .progress import Progress
from .report import RequestReport, pipeline_texts
from .stack import HOST, Stack, StackOptions, default_ollama_url, run_events
from .utterance import async_speak, write_utterance

DEFAULT_COMMAND = "Turn off the kitchen light."


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
    parser.add_argument("--keep", action="store_true", help="keep the work folder with the logs")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when the request was understood and answered."""
    work = Path(tempfile.mkdtemp(prefix="jarvis-demo-"))
    steps = 5 if args.mic else 6
    progress = Progress(steps)
    stack = Stack(
        StackOptions(work, args.ollama_url, args.model, live_mic=args.mic), progress=progress
    )
    report: RequestReport | None = None
    try:
        await stack.async_start()
        if args.mic:
            return await _listen_forever(stack, progress)
        wav = args.input
        if wav is None:
            wav = work / "utterance.wav"
            async with progress.step(f"Recording: 'hey jarvis' + '{DEFAULT_COMMAND}'"):
                command = await async_speak(HOST, stack.tts_port, DEFAULT_COMMAND)
                write_utterance(wav, command)
        async with progress.step(f"Playing {wav.name} into the satellite's microphone"):
            report = await stack.async_request(wav)
        out = args.out or Path.cwd()
        await asyncio.get_running_loop().run_in_executor(None, stack.write_reply, out / "reply.wav")
        if args.out:
            await asyncio.get_running_loop().run_in_executor(None, report.write, args.out)
        _print_report(report, out / "reply.wav")
    finally:
        await stack.async_stop()
        ok = report is not None and bool(report.reply) and not report.error
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
