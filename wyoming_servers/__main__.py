"""`jarvis-servers`: speech-to-text and text-to-speech together, in one process on two ports."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import logging
import time

from wyoming_servers.mqtt import add_mqtt_args, serve_with_mqtt
from wyoming_servers.piper.__main__ import add_piper_args, build_service, server_spec
from wyoming_servers.piper.voices import VoiceError
from wyoming_wire.cli import add_server_args, limits_from_args, run_main
from wyoming_wire.heap import reuse_large_buffers
from wyoming_wire.zeroconf import default_service_name

_LOGGER = logging.getLogger(__name__)
STT_URI = "tcp://127.0.0.1:10300"
TTS_URI = "tcp://127.0.0.1:10200"


def build_parser() -> argparse.ArgumentParser:
    """Flags: both URIs, the common server flags, STT flags, and TTS flags prefixed `--tts-`."""
    from wyoming_servers.whisper.service import add_arguments

    parser = argparse.ArgumentParser(
        prog="jarvis-servers",
        description="Jarvis speech servers: faster-whisper STT and Piper TTS on the embedded "
        "defaults (tiny.en, en_US-joe-medium), one process, two Wyoming ports.",
    )
    parser.add_argument("--stt-uri", default=STT_URI, help=f"STT address (default {STT_URI})")
    parser.add_argument("--tts-uri", default=TTS_URI, help=f"TTS address (default {TTS_URI})")
    add_server_args(parser, None, metrics=True)
    add_mqtt_args(parser)
    add_arguments(parser)
    add_piper_args(parser, prefix="tts-")
    return parser


async def _run(args: argparse.Namespace) -> None:
    from wyoming_servers.whisper.service import WhisperService, options_from_args

    started = time.monotonic()
    tts = build_service(args, prefix="tts-")
    # Load both models at once: Piper in its executor, Whisper in a helper thread.
    stt, _ = await asyncio.gather(
        asyncio.to_thread(WhisperService, options_from_args(args)), tts.preload()
    )
    zeroconf = args.zeroconf
    stt_spec = stt.server_spec(args.stt_uri, _name(zeroconf, "whisper"))
    tts_spec = server_spec(tts, args.tts_uri, _name(zeroconf, "piper"), limits_from_args(args))
    http = []
    metrics = None
    if args.metrics_uri:
        from wyoming_servers.metrics import ServerMetrics

        metrics = ServerMetrics()  # one registry and one endpoint for both servers
        metrics.watch_whisper(stt_spec, stt)
        metrics.watch_piper(tts_spec, tts)
        http.append(metrics.http(args.metrics_uri))
    await stt.start()
    _LOGGER.info("Models loaded in %.2f s", time.monotonic() - started)
    await serve_with_mqtt(args, [stt_spec, tts_spec], http, metrics)


def _name(zeroconf: str | None, kind: str) -> str | None:
    if zeroconf is None:
        return None
    return f"{zeroconf}-{kind}" if zeroconf else default_service_name(kind)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both servers until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    reuse_large_buffers()
    return run_main(
        lambda: _run(args),
        debug=args.debug,
        log_format=args.log_format,
        start_errors=(OSError, LookupError, RuntimeError, ValueError, VoiceError),
    )


if __name__ == "__main__":
    raise SystemExit(main())
