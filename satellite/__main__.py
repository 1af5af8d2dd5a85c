"""`jarvis-satellite` / `python -m satellite`.

Subcommands:
  run (default)   serve Home Assistant as a Wyoming satellite (config file + flags)
  detect FILE     run the listening chain on a recording, print JSON lines (tuning)
  control         mute/unmute, volume, wake word, sensitivity, follow-ups, stop what plays
  --list-devices  list sound cards
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any

from satellite.config import ConfigError, SatelliteConfig, add_config_arguments, config_from_args

_LOGGER = logging.getLogger("satellite")
SUBCOMMANDS = ("run", "detect", "control")


def _run_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="serve Home Assistant as a Wyoming satellite (the default)",
        description="Serve Home Assistant as a Wyoming satellite. Every setting can be "
        "given in a TOML/YAML file (--config) and overridden by its flag.",
    )
    parser.add_argument("--list-devices", action="store_true", help="list sound cards and exit")
    add_config_arguments(parser)


def _detect_parser(sub: Any) -> None:
    from satellite.detect import add_detect_arguments

    parser = sub.add_parser(
        "detect",
        help="run the listening chain on a WAV file and print JSON lines (tuning)",
        description="Print one JSON line per wake word detection and speech segment, then "
        "a summary, so sensitivity can be tuned on recordings of your own rooms.",
    )
    add_detect_arguments(parser)


def _control_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "control",
        help="mute/unmute, set the volume or stop the alarm of a running satellite",
        description="Send a local control request to a running satellite and print its state.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="satellite address")
    parser.add_argument("--port", type=int, default=10700, help="satellite port")
    parser.add_argument("--mute", choices=["on", "off", "toggle"], help="microphone mute")
    parser.add_argument("--volume", type=float, help="speaker volume, 0.0 to 1.0")
    parser.add_argument("--stop-alarm", action="store_true", help="silence a timer alarm")
    parser.add_argument(
        "--stop", action="store_true", help="stop whatever plays: reply, announcement, media, alarm"
    )
    parser.add_argument("--wake-word", help="listen for another bundled wake word")
    parser.add_argument(
        "--wake-sensitivity", choices=["low", "default", "high"], help="wake word sensitivity"
    )
    parser.add_argument(
        "--follow-up", choices=["on", "off"], help="listen again when the reply asks a question"
    )
    parser.add_argument(
        "--forget-driver",
        action="store_true",
        help="forget the remembered (trusted) driver: the next one to drive it is trusted",
    )
    parser.add_argument(
        "--pairing-secret-file",
        help="pair first with this secret (needed when the satellite has one)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="jarvis-satellite",
        description="Jarvis voice satellite for Home Assistant (Wyoming protocol).",
        epilog="Without a subcommand, 'run' is assumed: jarvis-satellite --config sat.toml. "
        "'jarvis-satellite run --help' lists every setting.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{run,detect,control}")
    _run_parser(sub)
    _detect_parser(sub)
    _control_parser(sub)
    return parser


def _normalise(argv: list[str]) -> list[str]:
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help")):
        return ["run", *argv]
    return argv


def _list_devices() -> int:
    from satellite.audio import list_devices

    try:
        devices = list_devices()
    except (OSError, RuntimeError, ImportError) as err:
        print(f"Cannot list sound devices: {err}", file=sys.stderr)
        return 1
    if not devices:
        print("No sound devices found.")
    for dev in devices:
        kinds = []
        if dev.max_input_channels:
            kinds.append(f"in x{dev.max_input_channels}")
        if dev.max_output_channels:
            kinds.append(f"out x{dev.max_output_channels}")
        print(
            f"{dev.index:3d}  {dev.name}  [{dev.hostapi}; {', '.join(kinds)}; "
            f"{dev.default_samplerate:.0f} Hz]"
        )
    return 0


async def _watch_source(satellite: Any, config: SatelliteConfig, stop: asyncio.Event) -> bool:
    """Return True if the microphone died (the service manager should restart us)."""
    while not stop.is_set():
        await asyncio.sleep(1.0)
        listener = satellite.listener
        if listener is None or not listener.finished:
            continue
        if config.mic.file:
            _LOGGER.info("The audio source ended; still serving playback and timers")
            return False
        _LOGGER.error("The microphone stopped delivering audio; exiting to be restarted")
        stop.set()
        return True
    return False


async def serve(config: SatelliteConfig) -> int:
    """Run the satellite until SIGINT/SIGTERM (SIGUSR1 toggles mute); the exit code."""
    from functools import partial

    from satellite.server import LIMITS, SatelliteConnection
    from satellite.server.build import build_satellite
    from satellite.server.info import VERSION
    from wyoming_wire import Endpoint, ServerSpec, serve as serve_wyoming
    from wyoming_wire.zeroconf import mac_name

    loop = asyncio.get_running_loop()
    satellite = build_satellite(config)
    stop = asyncio.Event()
    pending: set[asyncio.Task[None]] = set()

    def toggle_mute() -> None:
        task = loop.create_task(satellite.set_muted(not satellite.muted))
        pending.add(task)
        task.add_done_callback(pending.discard)

    def ready(endpoints: list[Endpoint]) -> None:
        # Machine-readable line for supervisors and tests (port 0 = a free port); on
        # stderr when stdout carries the speaker's raw audio.
        out = sys.stderr if config.speaker.file == "-" else sys.stdout
        print(f"READY {endpoints[0].host}:{endpoints[0].port}", file=out, flush=True)

    host = f"[{config.server.host}]" if ":" in config.server.host else config.server.host
    service = config.server.zeroconf_name or mac_name()
    spec = ServerSpec(
        uri=f"tcp://{host}:{config.server.port}",
        handler_factory=partial(SatelliteConnection, satellite=satellite),
        name="satellite",
        limits=LIMITS,
        zeroconf=service if config.server.zeroconf else None,
        # `jarvis` marks a Jarvis satellite for the Jarvis integration's discovery.
        zeroconf_properties={
            "name": config.name,
            "kind": "satellite",
            "jarvis": "satellite",
            "id": service,
            "version": VERSION or "0",
        },
    )
    with contextlib.suppress(NotImplementedError, RuntimeError, AttributeError):
        loop.add_signal_handler(signal.SIGUSR1, toggle_mute)
    mqtt: asyncio.Task[None] | None = None
    try:
        await satellite.start()
        http = []
        link = None
        if config.mqtt.host:
            from satellite.mqtt import SatelliteMqtt

            satellite_mqtt = SatelliteMqtt(satellite, config)
            link = satellite_mqtt.link
            mqtt = loop.create_task(satellite_mqtt.run(), name="mqtt")
        if config.server.metrics_port:
            from satellite.metrics import SatelliteMetrics, metrics_uri

            metrics = SatelliteMetrics(satellite, spec)
            if link is not None:
                metrics.watch_mqtt(link)
            uri = metrics_uri(config.server.metrics_host, config.server.metrics_port)
            http.append(metrics.http(uri))
        watcher = loop.create_task(_watch_source(satellite, config, stop))
        await serve_wyoming([spec], stop=stop, on_ready=ready, http=http)
        mic_failed = watcher.done() and watcher.result()
        watcher.cancel()
        return 1 if mic_failed else 0
    finally:
        _LOGGER.info("Stopping")
        if mqtt is not None:
            mqtt.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mqtt
        await satellite.stop()


def _run(args: argparse.Namespace) -> int:
    if args.list_devices:
        return _list_devices()
    try:
        config = config_from_args(args)
    except ConfigError as err:
        print(f"jarvis-satellite: {err}", file=sys.stderr)
        return 2
    from wyoming_wire.cli import run_main

    return run_main(
        lambda: serve(config),
        log_level=config.log_level,
        start_errors=(ValueError, OSError, RuntimeError),
    )


async def _control(args: argparse.Namespace, secret: str | None) -> dict[str, Any]:
    from wyoming.client import AsyncTcpClient
    from wyoming.event import Event

    from satellite.pairing import pair
    from satellite.server.events import CONTROL_TYPE, STATE_TYPE

    async with AsyncTcpClient(args.host, args.port) as client:
        if secret is not None:
            await pair(client, secret.encode())
        data: dict[str, Any] = {}
        if args.mute == "toggle":
            await client.write_event(Event(type=CONTROL_TYPE, data={}))
            state = await _read_state(client, STATE_TYPE)
            data["muted"] = not state["muted"]
        elif args.mute is not None:
            data["muted"] = args.mute == "on"
        if args.volume is not None:
            data["volume"] = args.volume
        if args.stop_alarm:
            data["stop_alarm"] = True
        if args.stop:
            data["stop"] = True
        if args.wake_word is not None:
            data["wake_word"] = args.wake_word
        if args.wake_sensitivity is not None:
            data["wake_sensitivity"] = args.wake_sensitivity
        if args.follow_up is not None:
            data["follow_up"] = args.follow_up == "on"
        if args.forget_driver:
            data["forget_driver"] = True
        await client.write_event(Event(type=CONTROL_TYPE, data=data))
        return await _read_state(client, STATE_TYPE)


async def _read_state(client: Any, state_type: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            event = await client.read_event()
            if event is None:
                raise ConnectionError("the satellite closed the connection")
            if event.type == state_type:
                return dict(event.data)
            if event.type == "error":
                raise ValueError(event.data.get("text") or event.data.get("code") or "error")


def _run_control(args: argparse.Namespace) -> int:
    if args.volume is not None and not 0.0 <= args.volume <= 1.0:
        print("jarvis-satellite: --volume must be from 0.0 to 1.0", file=sys.stderr)
        return 2
    from satellite.config import read_secret_file
    from satellite.pairing import PairingError

    try:
        secret = read_secret_file(args.pairing_secret_file) if args.pairing_secret_file else None
    except ConfigError as err:
        print(f"jarvis-satellite: {err}", file=sys.stderr)
        return 2
    try:
        state = asyncio.run(_control(args, secret))
    except (OSError, ValueError, TimeoutError, PairingError) as err:
        hint = " (give --pairing-secret-file)" if "pair first" in str(err) else ""
        print(
            f"jarvis-satellite: cannot control {args.host}:{args.port}: {err}{hint}",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(state))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of `jarvis-satellite`."""
    parser = build_parser()
    args = parser.parse_args(_normalise(list(sys.argv[1:] if argv is None else argv)))
    if args.command == "detect":
        if getattr(args, "detect_missing", False):
            print("jarvis-satellite: the detect tool is not available", file=sys.stderr)
            return 1
        from satellite.detect import run_detect  # type: ignore[import-not-found,unused-ignore]

        return int(run_detect(args))
    if args.command == "control":
        return _run_control(args)
    return _run(args)


if __name__ == "__main__":
    sys.exit(main())
