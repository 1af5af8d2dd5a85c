"""`jarvis-whisper` / `python -m wyoming_servers.whisper`: the speech-to-text server."""

from __future__ import annotations

import argparse
import asyncio
import logging

from wyoming_servers.runner import add_server_args, limit_malloc_arenas, serve, setup_logging

from .service import DEFAULT_URI, WhisperService, add_arguments, options_from_args

_LOGGER = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, load the model, serve until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(
        prog="jarvis-whisper",
        description="Wyoming speech-to-text server (faster-whisper) that decodes while audio "
        "arrives.",
    )
    add_server_args(parser, DEFAULT_URI)
    add_arguments(parser)
    args = parser.parse_args(argv)
    limit_malloc_arenas()
    setup_logging(args.debug, args.log_format)
    try:
        service = WhisperService(options_from_args(args))
    except (OSError, RuntimeError, ValueError) as err:
        _LOGGER.error("Cannot start: %s", err)
        return 1
    spec = service.server_spec(args.uri, args.zeroconf)

    async def run() -> None:
        await service.start()
        await serve([spec])

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    except OSError as err:
        _LOGGER.error("Cannot serve: %s", err)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
