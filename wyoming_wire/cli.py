"""What every Jarvis Wyoming process shares on its command line, and its `main` wrapper."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
import logging
from typing import Any

from .http import parse_http_uri
from .limits import Limits
from .logs import setup_logging

_LOGGER = logging.getLogger(__name__)


def add_server_args(
    parser: argparse.ArgumentParser, default_uri: str | None, *, metrics: bool = False
) -> None:
    """Add `--uri` (if `default_uri` is set), `--zeroconf`, `--max-payload`, logging flags.

    `metrics`: also `--metrics-uri` (off by default), for servers that serve `/metrics`.
    """
    if default_uri is not None:
        parser.add_argument(
            "--uri",
            default=default_uri,
            help=f"where to listen: tcp://HOST:PORT or unix://PATH (default {default_uri}; "
            "use tcp://0.0.0.0:PORT to serve the LAN)",
        )
    parser.add_argument(
        "--zeroconf",
        nargs="?",
        const="",
        default=None,
        metavar="NAME",
        help="advertise the server as _wyoming._tcp.local. (optional service NAME)",
    )
    default = Limits()
    parser.add_argument(
        "--max-payload",
        type=int,
        default=default.max_payload_bytes,
        metavar="BYTES",
        help=f"largest event payload accepted (default {default.max_payload_bytes})",
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=default.max_connections,
        help=f"open connections per server (default {default.max_connections})",
    )
    parser.add_argument(
        "--max-connections-per-peer",
        type=int,
        default=default.max_connections_per_peer,
        help=f"open connections from one address (default {default.max_connections_per_peer})",
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=default.idle_timeout_s,
        metavar="SECONDS",
        help=f"close a connection that sends nothing for this long (default {default.idle_timeout_s:g})",
    )
    if metrics:
        parser.add_argument(
            "--metrics-uri",
            default=None,
            type=_http_uri,
            metavar="http://HOST:PORT",
            help="serve Prometheus /metrics and /health there (default: off; e.g. "
            "http://127.0.0.1:9300, or http://0.0.0.0:9300 for a Prometheus on the LAN)",
        )
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="text, or json (one object a line, for log collectors)",
    )


def _http_uri(value: str) -> str:
    try:
        parse_http_uri(value)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return value


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The limits the flags of `add_server_args` ask for."""
    return Limits(
        max_payload_bytes=args.max_payload,
        max_connections=max(1, args.max_connections),
        max_connections_per_peer=max(1, args.max_connections_per_peer),
        idle_timeout_s=args.idle_timeout if args.idle_timeout > 0 else None,
    )


def run_main(
    main: Callable[[], Coroutine[Any, Any, int | None]],
    *,
    debug: bool = False,
    log_format: str = "text",
    log_level: int | str | None = None,
    start_errors: tuple[type[Exception], ...] = (OSError,),
) -> int:
    """Console-script wrapper: logging, `asyncio.run(main())`, and the exit code.

    Errors of `start_errors` (include OSError: a port in use) are one clear line and exit 1;
    Ctrl-C exits 0. `main` may return an exit code.
    """
    setup_logging(log_level or (logging.DEBUG if debug else logging.INFO), log_format)
    try:
        return asyncio.run(main()) or 0
    except KeyboardInterrupt:
        return 0
    except start_errors as err:
        _LOGGER.error("Cannot start: %s", err)
        return 1
