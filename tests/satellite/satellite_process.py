"""The real satellite process the tests drive (it lives with the benches, which use it too)."""

from bench.satellite_process import (
    COMMAND_CLIP,
    MIC_RATE,
    SATELLITE_PYTHON,
    WAKE_CLIP,
    Peer,
    SatelliteProcess,
    Utterance,
    command_only,
    command_position,
    read_mono,
    silence,
    speech_span,
    to_pcm,
    utterance,
)

__all__ = [
    "COMMAND_CLIP",
    "MIC_RATE",
    "SATELLITE_PYTHON",
    "WAKE_CLIP",
    "Peer",
    "SatelliteProcess",
    "Utterance",
    "command_only",
    "command_position",
    "read_mono",
    "silence",
    "speech_span",
    "to_pcm",
    "utterance",
]
