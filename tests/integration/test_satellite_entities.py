"""A Jarvis satellite's entities drive a real satellite process, and follow it when it goes.

HA side: the Jarvis integration with its real platforms (switch, number, select, sensor,
media player, assist satellite, event). Satellite side: `python -m satellite` on loopback.
What the satellite does is read from the satellite itself (its control state, its log, the
WAV sink of its speaker), not from HA.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
import io
import math
from pathlib import Path
from typing import Any
import wave

from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, intent
import numpy as np
import pytest

from tests.satellite.satellite_process import utterance

from .satellite_helpers import (
    SatelliteProcess,
    add_satellite,
    entity_of,
    satellite_status,
    start_satellite,
    wait_for,
    wait_log,
)

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def satellite(tmp_path: Path) -> AsyncIterator[SatelliteProcess]:
    """A running satellite."""
    proc = await start_satellite(tmp_path)
    yield proc
    await proc.stop()


async def wait_status(
    sat: SatelliteProcess, predicate: Callable[[dict[str, Any]], bool], timeout: float = 20.0
) -> None:
    """Poll the satellite's own state until `predicate` holds."""
    async with asyncio.timeout(timeout):
        while not predicate(await satellite_status(sat.port)):
            await asyncio.sleep(0.1)


async def say_all(sat: SatelliteProcess, pcm: bytes) -> None:
    """Say `pcm` and wait until the satellite's capture has taken all of it."""
    start = (await satellite_status(sat.port))["listener"].get("samples_in", 0.0)
    samples = len(pcm) // 2
    await sat.say(pcm)
    for _ in range(300):
        status = await satellite_status(sat.port)
        if status["listener"].get("samples_in", 0.0) >= start + samples - 4800:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the satellite did not take the audio: {status['listener']}")


def tone_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A 440 Hz tone as a WAV file."""
    n = int(seconds * rate)
    samples = (9000 * np.sin(2 * math.pi * 440 * np.arange(n) / rate)).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    path.write_bytes(buf.getvalue())
    return path


async def play_media(
    hass: HomeAssistant, player: str, path: Path, *, announce: bool = False
) -> None:
    """Play a local file on the satellite's media player, as a user's automation would."""
    data: dict[str, Any] = {
        "entity_id": player,
        "media_content_id": path.as_uri(),
        "media_content_type": "music",
    }
    if announce:
        data["announce"] = True
    await hass.services.async_call("media_player", "play_media", data, blocking=True)


async def test_controls_change_what_the_satellite_does(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    entry = await add_satellite(hass, satellite.port)
    volume = entity_of(hass, entry, "number", "volume")
    mute = entity_of(hass, entry, "switch", "muted")

    await hass.services.async_call(
        "number", "set_value", {"entity_id": volume, "value": 30}, blocking=True
    )
    assert (await satellite_status(satellite.port))["volume"] == pytest.approx(0.3)
    await wait_for(lambda: hass.states.get(volume).state == "30")

    await hass.services.async_call("switch", "turn_on", {"entity_id": mute}, blocking=True)
    assert (await satellite_status(satellite.port))["muted"] is True
    await wait_for(lambda: hass.states.get(mute).state == "on")
    # Muted, "hey jarvis, turn on the living room lamp" starts nothing.
    pcm = utterance().pcm
    await say_all(satellite, pcm)
    assert (await satellite_status(satellite.port))["pipelines"] == 0
    await hass.services.async_call("switch", "turn_off", {"entity_id": mute}, blocking=True)
    assert (await satellite_status(satellite.port))["muted"] is False
    # Unmuted, the same recording starts a command.
    await satellite.say(pcm)
    await wait_log(satellite, "State idle -> streaming")

    # The media player's volume is the satellite's too.
    player = entity_of(hass, entry, "media_player")
    await hass.services.async_call(
        "media_player", "volume_set", {"entity_id": player, "volume_level": 0.55}, blocking=True
    )
    assert (await satellite_status(satellite.port))["volume"] == pytest.approx(0.55)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_wake_settings_follow_up_and_stop_word_are_set_on_the_satellite(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    entry = await add_satellite(hass, satellite.port)
    sensitivity = entity_of(hass, entry, "select", "wake_sensitivity")
    await hass.services.async_call(
        "select", "select_option", {"entity_id": sensitivity, "option": "high"}, blocking=True
    )
    assert (await satellite_status(satellite.port))["wake_sensitivity"] == "high"
    await wait_for(lambda: hass.states.get(sensitivity).state == "high")

    for key in ("follow_up", "stop_word"):
        switch = entity_of(hass, entry, "switch", key)
        before = (await satellite_status(satellite.port))[key]
        service = "turn_off" if before else "turn_on"
        await hass.services.async_call("switch", service, {"entity_id": switch}, blocking=True)
        assert (await satellite_status(satellite.port))[key] is (not before)
        await wait_for(
            lambda s=switch, b=before: hass.states.get(s).state == ("off" if b else "on")
        )

    # Another bundled wake word: "hey jarvis" no longer wakes it; back to it, it does.
    wake_word = entity_of(hass, entry, "select", "wake_word")
    assert hass.states.get(wake_word).state == "hey_jarvis"
    assert "okay_nabu" in hass.states.get(wake_word).attributes["options"]
    await hass.services.async_call(
        "select", "select_option", {"entity_id": wake_word, "option": "okay_nabu"}, blocking=True
    )
    # The satellite loads the model in the background: its state says when it is in use.
    await wait_status(satellite, lambda st: st["wake_word"] == "okay_nabu")
    await wait_for(lambda: hass.states.get(wake_word).state == "okay_nabu")
    pcm = utterance().pcm
    await say_all(satellite, pcm)
    status = await satellite_status(satellite.port)
    assert status["pipelines"] == 0
    assert status["last_wake"] is None
    await hass.services.async_call(
        "select", "select_option", {"entity_id": wake_word, "option": "hey_jarvis"}, blocking=True
    )
    await wait_status(satellite, lambda st: st["wake_word"] == "hey_jarvis")
    await say_all(satellite, pcm)
    await wait_log(satellite, "State idle -> streaming")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_entities_go_unavailable_while_the_satellite_is_gone_and_recover(
    hass: HomeAssistant, satellite: SatelliteProcess, tmp_path: Path
) -> None:
    entry = await add_satellite(hass, satellite.port)
    volume = entity_of(hass, entry, "number", "volume")
    assist = entity_of(hass, entry, "assist_satellite")
    connection = entity_of(hass, entry, "sensor", "connection")
    assert hass.states.get(connection).state == "connected"
    assert hass.states.get(assist).state == "idle"

    port = satellite.port
    await satellite.stop()
    await wait_for(lambda: hass.states.get(volume).state == STATE_UNAVAILABLE)
    assert hass.states.get(assist).state == STATE_UNAVAILABLE
    assert hass.states.get(connection).state == "disconnected"  # the sensor says why

    again = await start_satellite(tmp_path, "--server-port", str(port), name="again")
    try:
        await wait_for(lambda: hass.states.get(volume).state != STATE_UNAVAILABLE, 40, again)
        assert hass.states.get(connection).state == "connected"
        assert hass.states.get(assist).state == "idle"
        # It drives the new process: controls reach it.
        await hass.services.async_call(
            "number", "set_value", {"entity_id": volume, "value": 70}, blocking=True
        )
        assert (await satellite_status(port))["volume"] == pytest.approx(0.7)
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await again.stop()


async def test_announce_plays_on_the_satellite_speaker(
    hass: HomeAssistant, satellite: SatelliteProcess, tmp_path: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await add_satellite(hass, satellite.port)
    assist = entity_of(hass, entry, "assist_satellite")
    media = tone_wav(tmp_path / "announce.wav", 2.0)
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"media_id": media.as_uri(), "preannounce": False},
        target={"entity_id": assist},
        blocking=True,
    )
    # The call returns once the satellite says it was played (it ends idle again).
    assert satellite.played_seconds() >= 1.95
    assert hass.states.get(assist).state == "idle"
    # With the preannounce sound, it comes first: more audio than the media alone.
    before = satellite.played_seconds()
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"media_id": media.as_uri()},
        target={"entity_id": assist},
        blocking=True,
    )
    assert satellite.played_seconds() - before >= 2.3

    # The volume set from HA is the speaker's: the same announcement at 100 % then at 30 %.
    volume = entity_of(hass, entry, "number", "volume")
    levels = []
    for percent in (100, 30):
        await hass.services.async_call(
            "number", "set_value", {"entity_id": volume, "value": percent}, blocking=True
        )
        start = len(satellite.speaker_audio())
        await hass.services.async_call(
            "assist_satellite",
            "announce",
            {"media_id": media.as_uri(), "preannounce": False},
            target={"entity_id": assist},
            blocking=True,
        )
        played = satellite.speaker_audio()[start:].astype(np.float64)
        levels.append(float(np.sqrt(np.mean(played**2))))
    assert levels[1] < levels[0] / 2, levels  # 30 % is well over 6 dB quieter
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_media_player_plays_a_file_on_the_satellite_speaker(
    hass: HomeAssistant, satellite: SatelliteProcess, tmp_path: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await add_satellite(hass, satellite.port)
    player = entity_of(hass, entry, "media_player")
    media = tone_wav(tmp_path / "music.wav", 3.0, rate=44100)
    await play_media(hass, player, media)
    await wait_for(lambda: hass.states.get(player).state == "playing", 10, satellite)
    await wait_for(lambda: satellite.played_seconds() >= 2.5, 20, satellite)
    await wait_for(lambda: hass.states.get(player).state == "idle", 20, satellite)
    # A path outside allowlist_external_dirs is refused.
    with pytest.raises(Exception, match="allowlist"):
        await hass.services.async_call(
            "media_player",
            "play_media",
            {
                "entity_id": player,
                "media_content_id": "file:///etc/passwd",
                "media_content_type": "music",
            },
            blocking=True,
        )
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_wake_word_event_score_and_ducked_music(
    hass: HomeAssistant, satellite: SatelliteProcess, tmp_path: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await add_satellite(hass, satellite.port)
    player = entity_of(hass, entry, "media_player")
    event = entity_of(hass, entry, "event", "wake_word_detected")
    score = entity_of(hass, entry, "sensor", "last_wake_score")
    assert hass.states.get(event).state == "unknown"  # nothing heard yet
    media = tone_wav(tmp_path / "music.wav", 12.0, rate=22050)
    await play_media(hass, player, media)
    await wait_for(lambda: satellite.played_seconds() >= 1.0, 20, satellite)
    assert (await satellite_status(satellite.port))["media"]["ducked"] is False

    # "Hey Jarvis" during the music: it is ducked while the satellite listens, ...
    await satellite.say(utterance().pcm)
    await wait_for(lambda: hass.states.get(event).state != "unknown", 30, satellite)
    fired = hass.states.get(event)
    assert fired.attributes["event_type"] == "detected"
    assert fired.attributes["name"] == "hey_jarvis"
    assert float(hass.states.get(score).state) == pytest.approx(fired.attributes["score"])
    assert float(hass.states.get(score).state) > 0.5
    ducked = False
    for _ in range(100):
        status = await satellite_status(satellite.port)
        ducked = ducked or status["media"]["ducked"]
        if ducked and status["state"] != "streaming" and not status["media"]["ducked"]:
            break  # ... and back up once the command is over
        await asyncio.sleep(0.1)
    assert ducked
    assert status["media"]["ducked"] is False
    assert status["media"]["state"] == "playing"
    assert hass.states.get(player).state == "playing"
    await hass.services.async_call(
        "media_player", "media_stop", {"entity_id": player}, blocking=True
    )
    await wait_for(lambda: hass.states.get(player).state == "idle", 10, satellite)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_timers_of_the_device_ring_on_the_satellite(
    hass: HomeAssistant, satellite: SatelliteProcess
) -> None:
    entry = await add_satellite(hass, satellite.port)
    device = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)[0]
    await intent.async_handle(
        hass,
        "test",
        intent.INTENT_START_TIMER,
        {"seconds": {"value": 1}, "name": {"value": "tea"}},
        device_id=device.id,
    )
    await wait_log(satellite, "started: 1 s (tea)")
    await wait_log(satellite, "finished (tea)")
    await wait_for(lambda: satellite.played_seconds() > 0.3)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_media_player_pause_resume_and_stop(
    hass: HomeAssistant, satellite: SatelliteProcess, tmp_path: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await add_satellite(hass, satellite.port)
    player = entity_of(hass, entry, "media_player")
    media = tone_wav(tmp_path / "music.wav", 20.0, rate=22050)
    await play_media(hass, player, media)
    await wait_for(lambda: satellite.played_seconds() >= 1.0, 20, satellite)

    await hass.services.async_call(
        "media_player", "media_pause", {"entity_id": player}, blocking=True
    )
    await wait_for(lambda: hass.states.get(player).state == "paused", 10, satellite)
    assert (await satellite_status(satellite.port))["media"]["state"] == "paused"
    held = satellite.played_seconds()
    await asyncio.sleep(1.0)
    # Paused: the speaker plays no more of the music (at most a block already written).
    assert satellite.played_seconds() - held < 0.3

    await hass.services.async_call(
        "media_player", "media_play", {"entity_id": player}, blocking=True
    )
    await wait_for(lambda: hass.states.get(player).state == "playing", 10, satellite)
    await wait_for(lambda: satellite.played_seconds() >= held + 1.0, 20, satellite)

    await hass.services.async_call(
        "media_player", "media_stop", {"entity_id": player}, blocking=True
    )
    await wait_for(lambda: hass.states.get(player).state == "idle", 10, satellite)
    assert (await satellite_status(satellite.port))["media"]["state"] == "idle"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_media_player_announcement_is_spoken_over_ducked_music(
    hass: HomeAssistant, satellite: SatelliteProcess, tmp_path: Path
) -> None:
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = await add_satellite(hass, satellite.port)
    player = entity_of(hass, entry, "media_player")
    music = tone_wav(tmp_path / "music.wav", 12.0, rate=22050)
    await play_media(hass, player, music)
    await wait_for(lambda: satellite.played_seconds() >= 1.0, 20, satellite)
    notice = tone_wav(tmp_path / "notice.wav", 1.5)
    await play_media(hass, player, notice, announce=True)
    # The satellite plays it as a reply over the music, ducked meanwhile; the music goes on.
    await wait_status(satellite, lambda st: st["media"]["ducked"])
    await wait_log(satellite, "Reply played (1.5 s)")
    await wait_status(satellite, lambda st: not st["media"]["ducked"])
    assert (await satellite_status(satellite.port))["media"]["state"] == "playing"
    await hass.services.async_call(
        "media_player", "media_stop", {"entity_id": player}, blocking=True
    )
    assert await hass.config_entries.async_unload(entry.entry_id)
