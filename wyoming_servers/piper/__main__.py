"""`jarvis-piper` / `python -m wyoming_servers.piper`: the Piper Wyoming server."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from wyoming_servers.models import JOE_VOICE
from wyoming_servers.mqtt import add_mqtt_args, serve_with_mqtt
from wyoming_servers.piper.handler import PiperEventHandler
from wyoming_servers.piper.service import OUTPUT_RATES, TtsService
from wyoming_servers.piper.voices import VoiceError, default_data_dirs
from wyoming_wire import Limits, ServerSpec
from wyoming_wire.cli import add_server_args, limits_from_args, run_main
from wyoming_wire.heap import limit_malloc_arenas

DEFAULT_URI = "tcp://127.0.0.1:10200"


def package_version() -> str:
    """Installed version of jarvis-voice."""
    try:
        return version("jarvis-voice")
    except PackageNotFoundError:
        return "0.0.0"


def _rate(value: str) -> int | None:
    if value == "native":
        return None
    rate = int(value)
    if rate not in OUTPUT_RATES:
        raise argparse.ArgumentTypeError(f"choose native or one of {OUTPUT_RATES}")
    return rate


def add_piper_args(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """The Piper options (`prefix` keeps them apart when combined with other servers)."""
    group = parser.add_argument_group("text-to-speech (Piper)")
    group.add_argument(
        f"--{prefix}voice",
        default=JOE_VOICE,
        help=f"default voice: a name (bundled {JOE_VOICE} or one in --data-dir) or an .onnx path",
    )
    group.add_argument(
        f"--{prefix}data-dir",
        action="append",
        type=Path,
        default=None,
        help="folder with more voices (NAME.onnx + NAME.onnx.json); repeatable "
        f"(default {default_data_dirs()[0]})",
    )
    group.add_argument(f"--{prefix}speaker", default=None, help="default speaker name or id")
    group.add_argument(
        f"--{prefix}length-scale",
        type=float,
        default=None,
        help="default speaking slowness (1.0 = voice default; requests may send speed)",
    )
    group.add_argument(
        f"--{prefix}sample-rate",
        type=_rate,
        default=None,
        metavar="native|16000|48000|...",
        help="output sample rate (default native; requests may send sample_rate)",
    )
    group.add_argument(
        f"--{prefix}threads", type=int, default=1, help="synthesis threads (default 1)"
    )
    group.add_argument(
        f"--{prefix}log-text",
        action="store_true",
        help="log the text to speak at INFO (default: only at DEBUG; it is private)",
    )


def build_service(args: argparse.Namespace, prefix: str = "") -> TtsService:
    """The TTS service from parsed options."""
    key = prefix.replace("-", "_")
    data_dirs = getattr(args, f"{key}data_dir") or default_data_dirs()
    return TtsService(
        voice=getattr(args, f"{key}voice"),
        data_dirs=data_dirs,
        speaker=getattr(args, f"{key}speaker"),
        length_scale=getattr(args, f"{key}length_scale"),
        output_rate=getattr(args, f"{key}sample_rate"),
        threads=max(1, getattr(args, f"{key}threads")),
        log_text=getattr(args, f"{key}log_text"),
    )


def server_spec(service: TtsService, uri: str, zeroconf: str | None, limits: Limits) -> ServerSpec:
    """How to serve `service` on `uri`."""
    return ServerSpec(
        uri=uri,
        handler_factory=partial(PiperEventHandler, service=service, version=package_version()),
        name="piper",
        limits=limits,
        zeroconf=zeroconf,
        on_stop=service.close,
    )


async def _main(args: argparse.Namespace) -> None:
    service = build_service(args)
    await service.preload()
    spec = server_spec(service, args.uri, args.zeroconf, limits_from_args(args))
    http = []
    metrics = None
    if args.metrics_uri:
        from wyoming_servers.metrics import ServerMetrics

        metrics = ServerMetrics()
        metrics.watch_piper(spec, service)
        http.append(metrics.http(args.metrics_uri))
    await serve_with_mqtt(args, [spec], http, metrics)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="jarvis-piper", description="Piper text-to-speech Wyoming server (Jarvis)"
    )
    add_server_args(parser, DEFAULT_URI, metrics=True)
    add_mqtt_args(parser)
    add_piper_args(parser)
    args = parser.parse_args(argv)
    limit_malloc_arenas()
    return run_main(
        lambda: _main(args),
        debug=args.debug,
        log_format=args.log_format,
        start_errors=(OSError, VoiceError, ValueError),
    )


if __name__ == "__main__":
    raise SystemExit(main())
