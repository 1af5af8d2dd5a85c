"""End-to-end latency of a spoken request: `python -m bench.e2e [--runs N]`.

The demo stack (a real HA with Jarvis, our STT/TTS servers, a satellite) hears recorded
"hey jarvis" + command utterances in real time; for each run the stage times are read from the
satellite (wake, end of speech, reply audio at its speaker) and HA's pipeline (transcript,
intent) and the last word (the recordings end at it + 0.7 s of room tone). Prints median and p95
per stage. Target for a local intent on a 2-core machine:
end of speech -> first reply audio <= 0.8 s.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
import tempfile

from homeassistant.core import HomeAssistant

from audio_clips import clip
from bench.common import machine, median_p95, table
from jarvis_demo.progress import Progress
from jarvis_demo.report import RequestReport
from jarvis_demo.stack import Stack, StackOptions
from jarvis_demo.utterance import read_wav_mono16k, write_utterance

# Recorded commands HA's own intents handle (the local-first path), and how to reset the home.
# Each recording ends at its last spoken word + exactly END07_TAIL_S of its own room tone (the
# `end07_` clips of bench.stt): the hard case, where the satellite's VAD must wait for silence.
COMMANDS = (
    ("english_commands/end07_wfw_turn_on_the_living_room_lamp.wav", "light.living_room_lamp"),
    ("english_commands/end07_stp_en_what_time_is_it.wav", None),
    ("english_commands/end07_stp_en_set_a_timer_for_5_minutes.wav", None),
)
END07_TAIL_S = 0.7
AFTER_COMMAND_S = 2.0  # the room tone write_utterance puts after the command
SPANS = (
    ("wake word -> first reply audio", "wake", "first_tts_audio"),
    ("last word -> first reply audio", "last_word", "first_tts_audio"),
    ("  last word -> end of speech (VAD)", "last_word", "end_of_speech"),
    ("end of speech -> first reply audio", "end_of_speech", "first_tts_audio"),
    ("  end of speech -> transcript", "end_of_speech", "transcript"),
    ("  transcript -> intent handled", "transcript", "intent"),
    ("  intent handled -> first reply audio", "intent", "first_tts_audio"),
    ("first -> last reply audio (satellite)", "first_tts_audio", "last_tts_audio"),
)


async def _reset(hass: HomeAssistant, entity_id: str | None) -> None:
    if entity_id is not None:
        await hass.services.async_call("light", "turn_off", {"entity_id": entity_id}, blocking=True)


async def _run(
    runs: int, work: Path, stt_args: tuple[str, ...] = ()
) -> list[tuple[str, RequestReport]]:
    options = StackOptions(work, "http://127.0.0.1:9", "none", stt_args=stt_args)
    stack = Stack(options, progress=Progress(5, open_log(work)))
    results: list[tuple[str, RequestReport]] = []
    try:
        await stack.async_start()
        assert stack.hass is not None
        for name, entity_id in COMMANDS:
            wav = work / (Path(name).stem + ".wav")
            said_by = await asyncio.to_thread(_write_utterance, wav, clip(name))
            for _ in range(runs):
                await _reset(stack.hass, entity_id)
                report = await stack.async_request(wav)
                # The microphone is fed in real time from the request's start (stage time 0).
                report.stage_times["last_word"] = said_by
                results.append((Path(name).stem, report))
                await asyncio.sleep(2.5)  # HA refuses a second wake-up within 2 s
    finally:
        await stack.async_stop()
    return results


def _write_utterance(wav: Path, command: Path) -> float:
    """Write "hey jarvis" + `command`; return when its last word ends (s into the file)."""
    write_utterance(wav, read_wav_mono16k(command))
    return len(read_wav_mono16k(wav)) / 16000 - AFTER_COMMAND_S - END07_TAIL_S


def open_log(work: Path):  # type: ignore[no-untyped-def]
    """Progress lines go to a file: the terminal shows the tables."""
    return (work / "progress.log").open("w")


def main() -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per recorded command")
    parser.add_argument(
        "--stt-args",
        default="",
        help="more flags for the speech-to-text server, e.g. '--early-end-ms 300'",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    stt_args = tuple(args.stt_args.split())
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-") as tmp:
        results = asyncio.run(_run(args.runs, Path(tmp), stt_args))
    if stt_args:
        print(f"speech-to-text server flags: {' '.join(stt_args)}")

    table(
        "Machine",
        ["what", "value"],
        machine(["homeassistant", "faster-whisper", "ctranslate2", "piper-tts", "wyoming"]),
    )
    rows = []
    for name, report in results:
        t = report.stage_times
        nan = float("nan")
        word_eos = t.get("end_of_speech", nan) - t.get("last_word", nan)
        eos_audio = t.get("first_tts_audio", nan) - t.get("end_of_speech", nan)
        rows.append(
            [name, report.transcript, report.reply, report.error or "",
             f"{word_eos:.3f}", f"{eos_audio:.3f}"]
        )  # fmt: skip
    headers = [
        "command",
        "transcript",
        "reply",
        "error",
        "last word -> EOS (s)",
        "EOS -> audio (s)",
    ]
    table("Runs", headers, rows)
    # Runs HA's own intents answered (a misheard command goes to the LLM: not this path).
    local = [r for _, r in results if r.reply and not r.error and not r.reply.startswith("Sorry")]
    spans = []
    for label, start, end in SPANS:
        values = [
            r.stage_times[end] - r.stage_times[start]
            for r in local
            if start in r.stage_times and end in r.stage_times
        ]
        if values:
            median, p95 = median_p95(values)
            spans.append([label, len(values), f"{median:.3f}", f"{p95:.3f}"])
    table("Latency per stage (seconds, local intents)", ["span", "n", "median", "p95"], spans)
    print("\nTarget: end of speech -> first reply audio <= 0.8 s (local intent, 2 cores).")


if __name__ == "__main__":
    main()
