"""Who may drive the satellite: trust on first use, an allow-list, or pairing with a secret.

The satellite runs as a real process; "other" peers on the LAN are played by other loopback
addresses (127.0.0.2, 127.0.0.3). 127.0.0.1 is the device itself (the `control` command).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.ping import Ping
from wyoming.satellite import RunSatellite

from satellite.pairing import (
    PairChallenge,
    PairingError,
    PairRequest,
    PairResponse,
    client_mac,
    new_nonce,
    pair,
    satellite_proof,
)

from .satellite_process import Peer, SatelliteProcess, utterance
from .test_cli import run_cli
from .test_hardening import CONTROL, STATE, PeerFrom, state
from .test_protocol import run_command, speak, tone, wait_for_log

HA = "127.0.0.3"  # the Home Assistant this satellite first meets
INTRUDER = "127.0.0.2"
SECRET = "correct horse battery staple 42"


async def refused(peer: Peer, event: Event) -> Error:
    """Send `event`; the satellite answers `not-allowed` and closes the connection."""
    await peer.send(event)
    error = Error.from_event(await peer.next("error", timeout=5))
    assert error.code == "not-allowed", error
    assert await peer.client.read_event() is None
    return error


async def refused_but_open(peer: Peer) -> None:
    """The connection is still open, and still may not drive."""
    await peer.send(Ping(text="open").event())
    assert (await peer.next("pong")).data["text"] == "open"


async def drives(port: int, host: str, sat: SatelliteProcess) -> None:
    """`host` can drive: run-satellite, then a spoken command streams to it."""
    async with PeerFrom(port, host) as peer:
        await peer.send(RunSatellite().event())
        await peer.send(Ping(text="p").event())
        await peer.next("pong")
        events = await run_command(peer, sat)
        assert "detection" in [e.type for e in events]


async def test_trust_on_first_use_keeps_out_a_second_address(tmp_path: Path) -> None:
    state_file = tmp_path / "satellite-state.json"
    sat = await SatelliteProcess.start(tmp_path, state_file=state_file)
    try:
        async with PeerFrom(sat.port, HA) as ha:
            await ha.send(RunSatellite().event())
            await ha.send(Ping(text="ha").event())
            await ha.next("pong")
            assert json.loads(state_file.read_text())["trusted_peer"] == HA
            assert (await state(sat.port))["access"] == {"mode": "tofu", "trusted_peer": HA}

            # Another address may discover the satellite, never drive or control it.
            async with PeerFrom(sat.port, INTRUDER) as intruder:
                await intruder.send(Describe().event())
                assert Info.from_event(await intruder.next("info")).satellite is not None
                await intruder.send(Ping(text="i").event())
                await intruder.next("pong")
                await refused(intruder, RunSatellite().event())
            async with PeerFrom(sat.port, INTRUDER) as intruder:
                await refused(intruder, Event(type=CONTROL, data={"volume": 0.1}))
            async with PeerFrom(sat.port, INTRUDER) as intruder:
                await intruder.send(AudioStart(rate=22050, width=2, channels=1).event())
                await intruder.next("error")

            # Home Assistant kept driving: the command goes to it, at full volume.
            await ha.send(Ping(text="still").event())
            assert (await ha.next("pong")).data["text"] == "still"
            events = await run_command(ha, sat)
            assert "detection" in [e.type for e in events]
            status = await state(sat.port)
            assert status["volume"] == 1.0 and status["connected"] is True
            assert sat.played_seconds() < 1.0  # chimes only, nothing from the intruder
        log = sat.log_text()
        assert (
            sum(f"{INTRUDER}" in line and "not allowed" in line for line in log.splitlines()) == 1
        )
        assert "replaces" not in log
    finally:
        assert await sat.stop() == 0

    # Remembered across a restart; `control --forget-driver` (from the device) resets it.
    sat = await SatelliteProcess.start(tmp_path, state_file=state_file)
    try:
        async with PeerFrom(sat.port, INTRUDER) as intruder:
            await refused(intruder, RunSatellite().event())
        code, out, err = await run_cli("control", "--port", str(sat.port), "--forget-driver")
        assert code == 0, err
        assert json.loads(out)["access"] == {"mode": "tofu", "trusted_peer": None}
        await drives(sat.port, INTRUDER, sat)
        assert json.loads(state_file.read_text())["trusted_peer"] == INTRUDER
        async with PeerFrom(sat.port, HA) as ha:
            await refused(ha, RunSatellite().event())
    finally:
        assert await sat.stop() == 0


async def test_an_allow_list_replaces_trust_on_first_use(tmp_path: Path) -> None:
    state_file = tmp_path / "satellite-state.json"
    sat = await SatelliteProcess.start(
        tmp_path, "--server-allowed-peers", f"{HA}/32, 10.0.0.0/8", state_file=state_file
    )
    try:
        async with PeerFrom(sat.port, INTRUDER) as intruder:
            await refused(intruder, RunSatellite().event())
        await drives(sat.port, HA, sat)
        await drives(sat.port, "127.0.0.1", sat)  # the device itself
        async with PeerFrom(sat.port, INTRUDER) as intruder:
            await refused(intruder, RunSatellite().event())
        assert (await state(sat.port))["access"]["mode"] == "allow-list"
        code, _, err = await run_cli("control", "--port", str(sat.port), "--forget-driver")
        assert code == 1 and "no remembered driver" in err, err
    finally:
        assert await sat.stop() == 0
    assert not state_file.exists()


async def test_a_pairing_probe_without_a_secret_is_answered_quietly(tmp_path: Path) -> None:
    """HA's config flow asks every discovered satellite to pair: no secret is an answer, no fault."""
    sat = await SatelliteProcess.start(tmp_path, state_file=tmp_path / "satellite-state.json")
    try:
        async with PeerFrom(sat.port, HA) as ha:
            for _ in range(3):
                await ha.send(PairRequest(nonce=new_nonce()).event())
                error = Error.from_event(await ha.next("error"))
                assert error.code == "pairing-not-configured", error
            await ha.send(RunSatellite().event())
            await ha.send(Ping(text="ha").event())
            await ha.next("pong")
            assert (await state(sat.port))["access"] == {"mode": "tofu", "trusted_peer": HA}
    finally:
        assert await sat.stop() == 0
    log = sat.log_text()
    assert " WARNING " not in log, log
    assert "asked to pair; this satellite has no pairing secret" in log


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """The pairing secret, in a file only its owner reads."""
    path = tmp_path / "pairing.secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return path


async def test_with_a_secret_only_a_paired_peer_drives(tmp_path: Path, secret_file: Path) -> None:
    sat = await SatelliteProcess.start(
        tmp_path, "--server-pairing-secret-file", str(secret_file), "--speaker-file", "null"
    )
    try:
        # Not paired: discovery works, driving and control do not.
        async with Peer(sat.port) as stranger:
            await stranger.send(Describe().event())
            assert Info.from_event(await stranger.next("info")).satellite is not None
            await refused(stranger, RunSatellite().event())
        async with Peer(sat.port) as stranger:
            await refused(stranger, Event(type=CONTROL, data={"volume": 0.1}))
        async with Peer(sat.port) as stranger:
            await stranger.send(AudioStart(rate=22050, width=2, channels=1).event())
            await stranger.next("error")
        # A listener that never pairs hears nothing while a command is spoken.
        async with Peer(sat.port) as eavesdropper:
            await eavesdropper.send(Ping(text="e").event())
            await eavesdropper.next("pong")
            await sat.say(utterance().pcm)
            await wait_for_log(sat, "Not connected to Home Assistant: wake word ignored")
            await eavesdropper.send(Ping(text="barrier").event())
            event = await eavesdropper.client.read_event()
            assert event is not None and event.type == "pong", event

        # A peer with the wrong secret finds out the satellite is not "its" satellite …
        async with Peer(sat.port) as wrong:
            with pytest.raises(PairingError, match="satellite-unproven"):
                await pair(wrong.client, b"not the secret at all!")
        # … and a guessed answer fails; the third failure closes the connection.
        async with Peer(sat.port) as guesser:
            for attempt in range(3):
                await guesser.send(PairRequest(nonce=new_nonce()).event())
                challenge = PairChallenge.from_event(await guesser.next("jarvis-pair-challenge"))
                guess = client_mac(b"not the secret at all!", challenge.nonce, new_nonce())
                await guesser.send(PairResponse(mac=guess).event())
                error = Error.from_event(await guesser.next("error"))
                assert error.code == "pairing-failed", error
                if attempt < 2:
                    await refused_but_open(guesser)
            assert await guesser.client.read_event() is None
        # A response to no challenge at all fails too.
        async with Peer(sat.port) as guesser:
            await guesser.send(PairResponse(mac="0" * 64).event())
            assert Error.from_event(await guesser.next("error")).code == "pairing-failed"

        # The right secret: the peer drives, hears the mic and sets the volume.
        async with Peer(sat.port) as paired:
            await pair(paired.client, SECRET.encode())
            await paired.send(RunSatellite().event())
            events = await run_command(paired, sat)
            assert any(e.type == "audio-chunk" for e in events)
            await paired.send(Event(type=CONTROL, data={"volume": 0.3}))
            status = (await paired.next(STATE)).data
            assert status["volume"] == 0.3
            assert status["access"]["mode"] == "pairing"
            await speak(paired, tone(0.5))
            await paired.next("played")
        # The device's own control command pairs with the secret file.
        code, out, err = await run_cli(
            "control", "--port", str(sat.port), "--pairing-secret-file", str(secret_file)
        )
        assert code == 0, err
        assert json.loads(out)["volume"] == 0.3
        code, _, err = await run_cli("control", "--port", str(sat.port), "--volume", "0.9")
        assert code == 1 and "not allowed" in err, err
    finally:
        assert await sat.stop() == 0
    log = sat.log_text()
    assert SECRET not in log
    assert "Volume 0.30" in log and "Volume 0.10" not in log


async def test_a_stranger_cannot_play_audio_with_a_secret_set(
    tmp_path: Path, secret_file: Path
) -> None:
    sat = await SatelliteProcess.start(tmp_path, "--server-pairing-secret-file", str(secret_file))
    try:
        async with Peer(sat.port) as stranger:
            await stranger.send(AudioStart(rate=22050, width=2, channels=1).event())
            await stranger.next("error")
        async with Peer(sat.port) as stranger:
            await stranger.send(AudioChunk(rate=22050, width=2, channels=1, audio=tone(1)).event())
            await stranger.next("error")
        async with Peer(sat.port) as stranger:
            await refused(stranger, AudioStop().event())
        await asyncio.sleep(0.5)
        assert sat.played_seconds() == 0.0
    finally:
        assert await sat.stop() == 0


def test_the_exchange_is_hmac_sha256_over_both_nonces() -> None:
    secret = SECRET.encode()
    client_nonce, satellite_nonce = new_nonce(), new_nonce()
    assert client_nonce != satellite_nonce and len(client_nonce) == 64
    mac = client_mac(secret, satellite_nonce, client_nonce)
    proof = satellite_proof(secret, client_nonce, satellite_nonce)
    assert len(mac) == len(proof) == 64 and mac != proof  # each side signs its own label
    assert client_mac(b"other secret 12345", satellite_nonce, client_nonce) != mac
    request = PairRequest(nonce=client_nonce)
    assert PairRequest.from_event(request.event()) == request
    challenge = PairChallenge(nonce=satellite_nonce, proof=proof)
    assert PairChallenge.from_event(challenge.event()) == challenge
    assert PairResponse.from_event(PairResponse(mac=mac).event()).mac == mac
