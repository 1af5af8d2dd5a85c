"""`jarvis-servers`: speech-to-text and text-to-speech together, in one process on two ports."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import logging
import time

from wyoming_servers.piper.__main__ import add_piper_args, build_service, server_spec
from wyoming_servers.runner import (
    ServerSpec,
    add_server_args,
    default_service_name,
    limit_malloc_arenas,
    serve,
    setup_logging,
)

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
    add_server_args(parser, None)
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
    specs: list[ServerSpec] = [
        stt.server_spec(args.stt_uri, _name(zeroconf, "whisper")),
        server_spec(tts, args.tts_uri, _name(zeroconf, "piper"), args.max_payload),
    ]
    await stt.start()
    _LOGGER.info("Models loaded in %.2f s", time.monotonic() - started)
    await serve(specs)


def _name(zeroconf: str | None, kind: str) -> str | None:
    if zeroconf is None:
        return None
    return f"{zeroconf}-{kind}" if zeroconf else default_service_name(kind)


def main(argv: Sequence[str] | None = None) -> int:
    """Run both servers until SIGTERM/SIGINT."""
    args = build_parser().parse_args(argv)
    limit_malloc_arenas()
    setup_logging(args.debug, args.log_format)
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        pass
    except (LookupError, OSError, RuntimeError, ValueError) as err:
        _LOGGER.error("Cannot start: %s", err)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
