"""`jarvis-satellite` / `python -m satellite` as a user runs it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
import signal
import uuid

from wyoming.info import Describe, Info

from .satellite_process import SATELLITE_PYTHON, Peer, SatelliteProcess

ROOT = Path(__file__).resolve().parents[2]


async def run_cli(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run `python -m satellite ARGS`; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        SATELLITE_PYTHON,
        "-m",
        "satellite",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_help_lists_subcommands_and_every_setting() -> None:
    code, out, _ = await run_cli("--help")
    assert code == 0
    for word in ("run", "detect", "control"):
        assert word in out
    code, out, _ = await run_cli("run", "--help")
    assert code == 0
    for flag in ("--config", "--mic-device", "--wake-word", "--speaker-volume", "--list-devices"):
        assert flag in out


async def test_list_devices_without_a_sound_card() -> None:
    code, out, err = await run_cli("--list-devices")
    # This machine has no sound card: a clear line either way, never a traceback.
    assert "Traceback" not in err
    assert code == 0 and out.strip(), (out, err)


async def test_bad_configuration_exits_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "satellite.toml"
    config.write_text("[wake]\nthreshold = 2\n[mic]\nrat = 48000\n")
    code, _, err = await run_cli("--config", str(config))
    assert code == 2
    assert "wake.threshold" in err
    assert "mic.rat: unknown setting" in err
    assert "Traceback" not in err

    code, _, err = await run_cli("--mic-file", str(tmp_path / "missing.wav"))
    assert code == 1
    assert "missing.wav" in err
    assert "Traceback" not in err


async def test_control_mutes_and_sets_the_volume(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path)
    try:
        code, out, err = await run_cli("control", "--port", str(sat.port), "--mute", "on")
        assert code == 0, err
        assert json.loads(out)["muted"] is True
        code, out, _ = await run_cli("control", "--port", str(sat.port), "--mute", "toggle")
        assert json.loads(out)["muted"] is False
        code, out, _ = await run_cli("control", "--port", str(sat.port), "--volume", "0.25")
        state = json.loads(out)
        assert state["volume"] == 0.25
        assert state["state"] == "paused"  # no Home Assistant connected
        assert "total_ms" in state["listener"]  # the capture chain's cost per frame
        code, _, err = await run_cli("control", "--port", str(sat.port), "--volume", "5")
        assert code == 2 and "volume" in err
    finally:
        assert await sat.stop() == 0
    assert "Microphone muted" in sat.log_text()
    assert "Volume 0.25" in sat.log_text()


async def test_control_reports_an_unreachable_satellite() -> None:
    code, _, err = await run_cli("control", "--port", "1", "--mute", "on")
    assert code == 1
    assert "cannot control 127.0.0.1:1" in err


async def test_zeroconf_announces_the_satellite(tmp_path: Path) -> None:
    name = f"jarvis-test-{uuid.uuid4().hex[:8]}"
    sat = await SatelliteProcess.start(
        tmp_path, "--server-zeroconf", "true", "--server-zeroconf-name", name
    )
    try:
        # Browse from a separate process (this test process may only use loopback).
        browse = (
            "import asyncio\n"
            "from zeroconf.asyncio import AsyncZeroconf\n"
            "async def main():\n"
            "    zc = AsyncZeroconf()\n"
            f"    info = await zc.async_get_service_info('_wyoming._tcp.local.', '{name}._wyoming._tcp.local.', 5000)\n"
            "    print(info.port if info else 'none')\n"
            "    await zc.async_close()\n"
            "asyncio.run(main())\n"
        )
        proc = await asyncio.create_subprocess_exec(
            SATELLITE_PYTHON, "-c", browse, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        assert out.decode().strip() == str(sat.port), sat.log_text()
        async with Peer(sat.port) as peer:
            await peer.send(Describe().event())
            assert Info.from_event(await peer.next("info")).satellite is not None
    finally:
        assert await sat.stop() == 0
    assert f"Advertising {name}._wyoming._tcp.local." in sat.log_text()


async def test_sigusr1_toggles_mute(tmp_path: Path) -> None:
    sat = await SatelliteProcess.start(tmp_path)
    try:
        sat.proc.send_signal(signal.SIGUSR1)
        async with asyncio.timeout(10):
            while "Microphone muted" not in sat.log_text():
                await asyncio.sleep(0.05)
        code, out, _ = await run_cli("control", "--port", str(sat.port))
        assert code == 0
        assert json.loads(out)["muted"] is True
    finally:
        assert await sat.stop() == 0
