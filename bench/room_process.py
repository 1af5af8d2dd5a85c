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
import soxr
from wyoming.event import Event

from satellite.audio.room import rms_dbfs, synthetic_music

from .satellite_process import SATELLITE_PYTHON, Peer, SatelliteProcess

PLAY_DBFS = -18.0  # what the driver sends: music, announcement
ECHO_GAIN_DB = -6.0  # speaker -> microphone in the room
MUSIC_RATE = 22050  # the music's rate over the media channel
ROOM_RATE = 48000  # the room's (speaker timeline's) rate


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


def music_samples(seconds: float, seed: int = 21) -> npt.NDArray[np.int16]:
    """The music `stream_music` sends (int16 at `MUSIC_RATE`)."""
    return synthetic_music(seconds, MUSIC_RATE, seed=seed, level_dbfs=PLAY_DBFS)


async def stream_music(peer: Peer, seconds: float, seed: int = 21) -> None:
    """Music over the media channel, paced like the driver (1 s lead)."""
    rate = MUSIC_RATE
    fmt = {"rate": rate, "width": 2, "channels": 1}
    music = music_samples(seconds, seed).tobytes()
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


def _best_lag(
    played: npt.NDArray[np.float64], music: npt.NDArray[np.float64], at: int, size: int
) -> int:
    """The lag (timeline index - music index) that best matches `played[at:at+size]`."""
    seg = played[at : at + size]
    n = 1 << int(np.ceil(np.log2(len(music) + size)))
    corr = np.fft.irfft(np.fft.rfft(music, n) * np.conj(np.fft.rfft(seg, n)), n)
    energy = np.concatenate([[0.0], np.cumsum(music**2)])
    window = energy[size:] - energy[:-size]  # music energy over each candidate span
    score = corr[: len(window)] / np.sqrt(window + 1e-9)
    return at - int(np.argmax(score))


def media_gain_db(
    played: npt.NDArray[np.float64],
    music: npt.NDArray[np.int16],
    *,
    start_s: float,
    end_s: float,
    chime: npt.NDArray[np.float64] | None = None,
    chime_at_s: float = 0.0,
    window_s: float = 0.01,
) -> list[tuple[float, float | None]]:
    """The media's gain (dB) on the speaker timeline, per `window_s` from `start_s` to `end_s`.

    `played` is the room's speaker timeline (`played.wav`, 48 kHz), `music` what
    `stream_music` sent. The music is resampled as the player does and aligned on the second
    before `start_s` (only music plays there); in each window the gain is the least-squares
    factor of the music in what was played, once the `chime` (48 kHz samples) placed at
    `chime_at_s` has been taken out. A window that does not fit is aligned again (a gap: the
    player ran short); None where the speaker was silent or nothing fits.
    Returns (window start s, gain dB or None) pairs.
    """
    rate = ROOM_RATE
    reference = np.asarray(soxr.resample(music.astype(np.float32), MUSIC_RATE, rate), np.float64)
    rest = np.asarray(played, np.float64).copy()
    if chime is not None:
        at = round(chime_at_s * rate)
        piece = chime[: max(0, len(rest) - at)]
        rest[at : at + len(piece)] -= piece
    lag = _best_lag(rest, reference, round((start_s - 1.0) * rate), rate)
    size = round(window_s * rate)
    out: list[tuple[float, float | None]] = []
    for k in range(round((end_s - start_s) / window_s)):
        at = round(start_s * rate) + k * size
        part = rest[at : at + size]
        gain: float | None = None
        if len(part) == size and float(np.mean(part**2)) > 1.0:  # not silent (-90 dBFS)
            for attempt in range(2):
                lo = at - lag
                ref = reference[max(0, lo) : max(0, lo) + size]
                if lo >= 0 and len(ref) == size:
                    factor = float(np.dot(part, ref) / max(1e-9, float(np.dot(ref, ref))))
                    miss = float(np.sum((part - factor * ref) ** 2))
                    if miss < 0.1 * float(np.sum(part**2)):  # 90 % of it is the music
                        gain = float(20 * np.log10(abs(factor) + 1e-12))
                        break
                if not attempt:
                    lag = _best_lag(rest, reference, at, round(0.1 * rate))
        out.append((at / rate, gain))
    return out
