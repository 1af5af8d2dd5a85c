"""The whole satellite process in the simulated room, for the tests and the benches.

`python -m satellite.audio.room` runs the real satellite with the room as its sound card: what
its speaker plays comes back into its microphone through the echo path; the voice is said on
stdin. The driver (a test or a bench) streams music over the media channel.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import numpy.typing as npt
from wyoming.event import Event

from satellite.audio.room import rms_dbfs, synthetic_music

from .satellite_process import SATELLITE_PYTHON, Peer, SatelliteProcess

PLAY_DBFS = -18.0  # what the driver sends: music, announcement
ECHO_GAIN_DB = -6.0  # speaker -> microphone in the room


def active_gain(samples: npt.NDArray[np.float32], dbfs: float) -> float:
    """The gain that puts the active part of `samples` (above 5 % of the peak) at `dbfs` RMS."""
    active = samples[np.abs(samples) > 0.05 * np.max(np.abs(samples))]
    return float(10 ** ((dbfs - rms_dbfs(active)) / 20))


async def start_in_room(tmp: Path, record: Path, *extra: str) -> SatelliteProcess:
    """The satellite process with the room as its sound card (defaults: AEC on, chimes on)."""
    log = tmp / "satellite.log"
    args = [
        *(SATELLITE_PYTHON, "-m", "satellite.audio.room", "--room-seconds", "40"),
        *("--room-gain-db", str(ECHO_GAIN_DB), "--room-record", str(record)),
        *("--name", "Room satellite", "--server-host", "127.0.0.1", "--server-port", "0"),
        *("--server-zeroconf", "false", "--mic-file", "-", "--speaker-file", "null"),
        *("--sounds-done", "none", "--log-level", "DEBUG"),
        *("--server-state-file", str(tmp / "state.json")),
        *extra,
    ]
    return await SatelliteProcess.spawn(args, tmp / "unused.wav", log)


async def stream_music(peer: Peer, seconds: float, seed: int = 21) -> None:
    """Music over the media channel, paced like the driver (1 s lead)."""
    rate = 22050
    fmt = {"rate": rate, "width": 2, "channels": 1}
    music = synthetic_music(seconds, rate, seed=seed, level_dbfs=PLAY_DBFS).tobytes()
    await peer.send(Event(type="jarvis-media-start", data=fmt))
    loop = asyncio.get_running_loop()
    started = loop.time()
    step = rate // 10 * 2
    for at in range(0, len(music), step):
        ahead = at / (2 * rate) - (loop.time() - started)
        if ahead > 1.0:
            await asyncio.sleep(ahead - 1.0)
        await peer.send(Event(type="jarvis-media-chunk", data=fmt, payload=music[at : at + step]))
    await peer.send(Event(type="jarvis-media-stop", data={}))
