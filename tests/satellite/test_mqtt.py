"""The satellite on a real Mosquitto broker: availability, state, events, commands, discovery.

The satellite runs as a real subprocess (`satellite_process`), driven over Wyoming by a client
playing Home Assistant; a second MQTT client (aiomqtt) watches the broker and sends commands.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from wyoming.asr import Transcript
from wyoming.error import Error
from wyoming.satellite import RunSatellite
from wyoming.timer import TimerFinished, TimerStarted
from wyoming.tts import Synthesize

from tests.mqtt_broker import Broker, Subscriber, broker
from wyoming_wire.mqtt import backoff_delays, parse_mqtt_uri

from .satellite_process import Peer, SatelliteProcess, utterance
from .test_protocol import speak, tone

__all__ = ["broker"]  # the fixture

BASE = "jarvis/test_satellite"


async def start_satellite(tmp: Path, broker: Broker, *extra: str) -> SatelliteProcess:
    """A satellite publishing to `broker` (reconnects fast enough for tests: first wait 1 s)."""
    return await SatelliteProcess.start(
        tmp, "--mqtt-host", "127.0.0.1", "--mqtt-port", str(broker.port), *extra
    )


def state_is(**want: Any) -> Any:
    """A check that a state document holds `want`."""
    return lambda doc: isinstance(doc, dict) and all(doc.get(k) == v for k, v in want.items())


async def test_state_and_events_of_a_command(tmp_path: Path, broker: Broker) -> None:
    async with Subscriber(broker.port, f"{BASE}/#") as sub:
        sat = await start_satellite(tmp_path, broker)
        try:
            assert await sub.wait_for(f"{BASE}/availability") == "online"
            await sub.wait_for(f"{BASE}/state", state_is(state="paused", muted=False))
            async with Peer(sat.port) as peer:
                await peer.send(RunSatellite().event())
                await sub.wait_for(f"{BASE}/state", state_is(state="idle", connected=True))
                await sat.say(utterance().pcm)
                await peer.collect_until("audio-stop", timeout=30)
                wake = await sub.wait_for(f"{BASE}/event/wake")
                assert wake["wake_word"] == "hey_jarvis"
                assert 0.5 <= wake["score"] <= 1.0
                assert await sub.wait_for(f"{BASE}/event/pipeline") == {}
                await sub.wait_for(f"{BASE}/state", state_is(state="streaming"))
                await peer.send(Transcript(text="turn on the lamp").event())
                await peer.send(Synthesize(text="Done.").event())
                await speak(peer, tone(0.5))
                await peer.next("played", timeout=15)
                played = await sub.wait_for(f"{BASE}/event/reply_played")
                assert played["outcome"] == "played"
                assert played["seconds"] == pytest.approx(0.5, abs=0.01)
                assert (await sub.wait_for(f"{BASE}/event/transcript"))["text"] == (
                    "turn on the lamp"
                )
                assert (await sub.wait_for(f"{BASE}/event/reply"))["text"] == "Done."
                await peer.send(TimerStarted(id="t1", total_seconds=60, name="tea").event())
                started = await sub.wait_for(f"{BASE}/event/timer_started")
                assert started == {"id": "t1", "name": "tea", "total_seconds": 60}
                await sub.wait_for(f"{BASE}/state", state_is(timers=1))
                await peer.send(TimerFinished(id="t1").event())
                assert await sub.wait_for(f"{BASE}/event/timer_finished") == {"id": "t1"}
                await peer.send(Error(text="stt down", code="stt-failed").event())
                error = await sub.wait_for(f"{BASE}/event/error")
                assert error == {"code": "stt-failed", "text": "stt down"}
        finally:
            assert await sat.stop() == 0, sat.log_text()
        # A clean stop says offline (a clean disconnect does not fire the last will).
        await sub.wait_for(f"{BASE}/availability", lambda p: p == "offline")
    # Events are not retained; state and availability are.
    retained = {topic for topic, _, retain in sub.messages if retain}
    assert not any("/event/" in topic for topic in retained)


async def test_broker_restart_then_satellite_killed(tmp_path: Path, broker: Broker) -> None:
    sat = await start_satellite(tmp_path, broker, "--speaker-volume", "0.4")
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/state", state_is(volume=0.4))
        await broker.kill()  # kill -9: nothing retained survives (persistence false)
        await asyncio.sleep(0.5)
        await broker.start()
        # Reconnects (1 s, then 2 s …) and publishes availability and state again, retained.
        async with asyncio.timeout(20):
            while True:
                async with Subscriber(broker.port, f"{BASE}/#") as sub:
                    await asyncio.sleep(0.3)
                    retained = {t: p for t, p, r in sub.messages if r}
                if f"{BASE}/state" in retained and f"{BASE}/availability" in retained:
                    break
                await asyncio.sleep(0.3)
        assert retained[f"{BASE}/availability"] == b"online"
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/state", state_is(volume=0.4, muted=False))
            sat.proc.kill()  # kill -9: the broker publishes the last will
            await sat.proc.wait()
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "offline", timeout=10)
    finally:
        await sat.stop()
    assert "MQTT connected" in sat.log_text()


async def command(sub: Subscriber, name: str, payload: Any, command_id: str) -> dict[str, Any]:
    """Send a command with an id and wait for its acknowledgement."""
    body = {"value": payload, "id": command_id} if payload is not None else {"id": command_id}
    await sub.publish(f"{BASE}/command/{name}", body)
    ack: dict[str, Any] = await sub.wait_for(f"{BASE}/ack", lambda a: a["id"] == command_id)
    return ack


async def test_commands_are_applied_and_acknowledged(tmp_path: Path, broker: Broker) -> None:
    sat = await start_satellite(tmp_path, broker)
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
            ack = await command(sub, "mute", "ON", "c1")
            assert ack == {"command": "mute", "id": "c1", "ok": True, "error": None}
            await sub.wait_for(f"{BASE}/state", state_is(muted=True))
            await sub.publish(f"{BASE}/command/mute", "OFF")  # plain, as HA's switch sends it
            await sub.wait_for(f"{BASE}/state", state_is(muted=False))
            assert (await command(sub, "volume", 0.25, "c2"))["ok"]
            await sub.wait_for(f"{BASE}/state", state_is(volume=0.25))
            bad = await command(sub, "volume", 7, "c3")
            assert bad["ok"] is False
            assert "0.0 to 1.0" in bad["error"]
            assert (await command(sub, "stop", None, "c4"))["ok"]
            # The same id again (a QoS 1 redelivery) is acknowledged, not applied twice.
            await command(sub, "mute", "ON", "c5")
            await sub.wait_for(f"{BASE}/state", state_is(muted=True))
            await sub.publish(f"{BASE}/command/mute", "OFF")
            await sub.wait_for(f"{BASE}/state", state_is(muted=False))
            await sub.publish(f"{BASE}/command/mute", {"value": "ON", "id": "c5"})
            dup = await sub.wait_for(f"{BASE}/ack", lambda a: a.get("duplicate"))
            assert dup["id"] == "c5"
            await asyncio.sleep(0.5)
            assert sub.on(f"{BASE}/state")[-1]["muted"] is False
    finally:
        assert await sat.stop() == 0, sat.log_text()
    assert "MQTT command mute refused" not in sat.log_text()


async def test_listen_starts_a_conversation(tmp_path: Path, broker: Broker) -> None:
    sat = await start_satellite(tmp_path, broker)
    try:
        async with Subscriber(broker.port, f"{BASE}/#") as sub:
            await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
            refused = await command(sub, "listen", None, "l1")  # no HA yet
            assert refused["ok"] is False
            assert "no Home Assistant connection" in refused["error"]
            async with Peer(sat.port) as peer:
                await peer.send(RunSatellite().event())
                await sub.wait_for(f"{BASE}/state", state_is(state="idle"))
                assert (await command(sub, "listen", None, "l2"))["ok"]
                run = await peer.next("run-pipeline")
                assert run.data["start_stage"] == "asr"
                assert run.data["end_stage"] == "tts"
                await peer.next("audio-start")
                await sub.wait_for(f"{BASE}/state", state_is(state="streaming"))
                again = await command(sub, "listen", None, "l3")
                assert (again["ok"], again["error"]) == (False, "already listening")
    finally:
        assert await sat.stop() == 0, sat.log_text()


async def test_a_command_sent_while_offline_arrives_once(tmp_path: Path, broker: Broker) -> None:
    (tmp_path / "a").mkdir()
    first = await start_satellite(tmp_path / "a", broker)
    async with Subscriber(broker.port, f"{BASE}/#") as sub:
        await sub.wait_for(f"{BASE}/availability", lambda p: p == "online")
        first.proc.kill()
        await first.proc.wait()
        await sub.wait_for(f"{BASE}/availability", lambda p: p == "offline")
        await sub.publish(f"{BASE}/command/volume", {"value": 0.3, "id": "while-down"})
        (tmp_path / "b").mkdir()
        second = await start_satellite(tmp_path / "b", broker)  # same id: same session
        try:
            ack = await sub.wait_for(f"{BASE}/ack", lambda a: a["id"] == "while-down")
            assert ack["ok"]
            await sub.wait_for(f"{BASE}/state", state_is(volume=0.3))
            await asyncio.sleep(1.0)
            assert [a["id"] for a in sub.on(f"{BASE}/ack")] == ["while-down"]
        finally:
            assert await second.stop() == 0, second.log_text()
    await first.stop()


async def test_discovery_configs_are_published_when_asked(tmp_path: Path, broker: Broker) -> None:
    sat = await start_satellite(tmp_path, broker, "--mqtt-discovery", "true")
    try:
        async with Subscriber(broker.port, "homeassistant/#") as sub:
            async with asyncio.timeout(10):
                while len(sub.messages) < 3:
                    await asyncio.sleep(0.05)
    finally:
        assert await sat.stop() == 0
    async with Subscriber(broker.port, "homeassistant/#") as late:  # retained: HA restarts too
        async with asyncio.timeout(10):
            while len(late.messages) < 3:
                await asyncio.sleep(0.05)
    topics = {topic for topic, _, retain in late.messages if retain}
    assert topics == {topic for topic, _, _ in sub.messages}
    node = "jarvis_satellite_test_satellite"
    assert topics == {
        f"homeassistant/sensor/{node}/state/config",
        f"homeassistant/switch/{node}/mute/config",
        f"homeassistant/number/{node}/volume/config",
    }


async def test_no_discovery_by_default(tmp_path: Path, broker: Broker) -> None:
    sat = await start_satellite(tmp_path, broker)
    try:
        async with Subscriber(broker.port, "homeassistant/#", f"{BASE}/state") as sub:
            await sub.wait_for(f"{BASE}/state")
            await asyncio.sleep(0.5)
    finally:
        assert await sat.stop() == 0
    assert [t for t, _, _ in sub.messages if t.startswith("homeassistant/")] == []


async def test_discovery_payloads_pass_home_assistants_schemas(tmp_path: Path) -> None:
    """Each config passes HA's own MQTT discovery schema with no key dropped; templates render."""
    pytest.importorskip("homeassistant.components.mqtt")
    from homeassistant.components.mqtt import notify, number, sensor, switch
    from homeassistant.core import HomeAssistant

    hass = HomeAssistant(str(tmp_path))  # templates validate against the running instance
    state = '{"state": "idle", "muted": true, "volume": 0.35}'
    rendered = {"sensor": "idle", "switch": "ON", "number": "0.35"}

    from satellite.config import SatelliteConfig
    from satellite.mqtt_discovery import discovery_configs

    config = SatelliteConfig(name="Test satellite", area="Kitchen")
    assert len(discovery_configs(config, BASE)) == 3  # no announce entity without a TTS server
    config.mqtt.announce_tts_uri = "tcp://127.0.0.1:10200"
    configs = discovery_configs(config, BASE)
    schemas = {"sensor": sensor, "switch": switch, "number": number, "notify": notify}
    assert sorted(topic.split("/")[1] for topic in configs) == sorted(schemas)
    device_ids = set()
    for topic, payload in configs.items():
        component = topic.split("/")[1]
        validated = schemas[component].DISCOVERY_SCHEMA(dict(payload))
        assert set(payload) <= set(validated), f"{topic}: HA drops {set(payload) - set(validated)}"
        assert validated["availability_topic"] == f"{BASE}/availability"
        device_ids.add(tuple(validated["device"]["identifiers"]))
        if component == "notify":  # HA's notify.send_message publishes the message as is
            assert validated["command_topic"] == f"{BASE}/command/announce"
            assert "state_topic" not in validated
        else:
            assert validated["state_topic"] == f"{BASE}/state"
            template = validated["value_template"]
            template.hass = hass
            rendering = template.async_render_with_possible_json_value(state)
            assert str(rendering) == rendered[component]
        if component != "sensor":
            assert validated["command_topic"].startswith(f"{BASE}/command/")
            assert validated["qos"] == 1  # kept by the broker for an offline satellite
    assert device_ids == {("jarvis_satellite_test_satellite",)}  # one device


def test_mqtt_uri_and_backoff() -> None:
    target = parse_mqtt_uri("mqtts://user:p%40ss@broker.lan")
    assert (target.host, target.port, target.username, target.password, target.tls) == (
        "broker.lan",
        8883,
        "user",
        "p@ss",
        True,
    )
    assert parse_mqtt_uri("mqtt://10.0.0.2:1884").port == 1884
    with pytest.raises(ValueError, match="mqtt://"):
        parse_mqtt_uri("http://x")
    assert backoff_delays() == [1, 2, 4, 8, 16, 32, 60]


def test_mqtt_settings(tmp_path: Path) -> None:
    from satellite.config import ConfigError, load_config
    from satellite.mqtt import base_topic, satellite_id

    config = load_config(None, {"name": "Küche 2"})
    assert config.mqtt.host == ""  # off by default
    assert not config.mqtt.discovery
    assert (satellite_id(config), base_topic(config)) == ("k_che_2", "jarvis/k_che_2")
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    config = load_config(
        None, {"mqtt": {"host": "b", "password_file": str(secret), "id": "kitchen"}}
    )
    assert config.mqtt.password == "s3cret"
    assert "s3cret" not in repr(config)
    assert base_topic(config) == "jarvis/kitchen"
    with pytest.raises(ConfigError, match="mqtt.topic_prefix"):
        load_config(None, {"mqtt": {"topic_prefix": "a/#"}})
    with pytest.raises(ConfigError, match="MQTT password file"):
        load_config(None, {"mqtt": {"password_file": str(tmp_path / "missing")}})
