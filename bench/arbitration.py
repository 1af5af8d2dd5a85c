"""Wake arbitration's added delay: `.venv/bin/python -m bench.arbitration [--runs 5]`.

One real satellite (`python -m satellite`, microphone on stdin at a real microphone's pace)
hears "hey jarvis, turn on the living room lamp" `--runs` times for each case; its own
`wake_to_audio_ms` (wake word emitted on the listener thread -> first command audio written to
the socket) is read from its state after each:

- arbitration off (what HA's wyoming integration gets);
- arbitration on, the driver answering each claim at once (the round trip alone);
- arbitration on, the driver answering after a 50 ms window (the Jarvis integration's rule).
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import statistics
import tempfile

from wyoming.event import Event
from wyoming.satellite import RunSatellite

from bench.common import machine, table
from bench.satellite_process import MIC_RATE, Peer, SatelliteProcess, silence, utterance


async def _live(sat: SatelliteProcess, pcm: bytes) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    block = MIC_RATE // 50 * 2
    for at in range(0, len(pcm), block):
        await sat.say(pcm[at : at + block])
        ahead = (at + block) / (MIC_RATE * 2) - (loop.time() - started)
        if ahead > 0:
            await asyncio.sleep(ahead)


async def _one(peer: Peer, sat: SatelliteProcess, window_s: float) -> float:
    speaking = asyncio.create_task(_live(sat, utterance().pcm))
    while (event := await peer.client.read_event()) is not None and event.type != "audio-stop":
        if event.type == "jarvis-wake-claim":
            await asyncio.sleep(window_s)
            data = {"id": event.data["id"], "run": True}
            await peer.send(Event(type="jarvis-wake-decision", data=data))
    await speaking
    await peer.send(Event(type="error", data={"text": "end", "code": "wake-end"}))
    await _live(sat, silence(2.0))  # past the refractory period
    await peer.send(Event(type="jarvis-satellite-control", data={}))
    state = await peer.next("jarvis-satellite-state")
    return float(state.data["wake_to_audio_ms"])


async def _run(runs: int) -> list[list[object]]:
    cases = [("off", None), ("on, answered at once", 0.0), ("on, 50 ms window", 0.05)]
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sat = await SatelliteProcess.start(Path(tmp))
        try:
            async with Peer(sat.port) as peer:
                await peer.send(RunSatellite().event())
                for label, window in cases:
                    data = {"arbitration": window is not None}
                    await peer.send(Event(type="jarvis-satellite-control", data=data))
                    await peer.next("jarvis-satellite-state")
                    ms = [await _one(peer, sat, window or 0.0) for _ in range(runs)]
                    rows.append(
                        [
                            label,
                            runs,
                            f"{statistics.median(ms):.1f}",
                            f"{min(ms):.1f}",
                            f"{max(ms):.1f}",
                        ]
                    )
        finally:
            await sat.stop()
    return rows


def main() -> None:
    """Print the machine, then the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    table("Machine", ["what", "value"], machine(["wyoming", "pymicro-wakeword"]))
    rows = asyncio.run(_run(args.runs))
    table(
        "Wake word -> first command audio on the socket (ms)",
        ["arbitration", "runs", "median", "min", "max"],
        rows,
    )


if __name__ == "__main__":
    main()
