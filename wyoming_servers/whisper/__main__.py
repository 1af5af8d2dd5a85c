"""`jarvis-whisper` / `python -m wyoming_servers.whisper`: the speech-to-text server."""

from __future__ import annotations

import argparse
import asyncio

from wyoming_servers.mqtt import add_mqtt_args, serve_with_mqtt
from wyoming_wire.cli import add_server_args, run_main
from wyoming_wire.heap import reuse_large_buffers

from .service import DEFAULT_URI, WhisperService, add_arguments, options_from_args


def main(argv: list[str] | None = None) -> int:
    """Parse flags, load the model, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="jarvis-whisper",
        description="Wyoming speech-to-text server (faster-whisper) that decodes while audio "
        "arrives.",
    )
    add_server_args(parser, DEFAULT_URI, metrics=True)
    add_mqtt_args(parser)
    add_arguments(parser)
    args = parser.parse_args(argv)
    reuse_large_buffers()

    async def run() -> None:
        service = await asyncio.to_thread(WhisperService, options_from_args(args))
        await service.start()
        spec = service.server_spec(args.uri, args.zeroconf)
        http = []
        metrics = None
        if args.metrics_uri:
            from wyoming_servers.metrics import ServerMetrics

            metrics = ServerMetrics()
            metrics.watch_whisper(spec, service)
            http.append(metrics.http(args.metrics_uri))
        await serve_with_mqtt(args, [spec], http, metrics)

    return run_main(
        run,
        debug=args.debug,
        log_format=args.log_format,
        start_errors=(OSError, RuntimeError, ValueError),
    )


if __name__ == "__main__":
    raise SystemExit(main())
