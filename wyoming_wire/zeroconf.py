"""Advertise Wyoming listeners as `_wyoming._tcp.local.` so Home Assistant discovers them."""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid

from zeroconf import Error as ZeroconfError, IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"


def mac_name() -> str:
    """The device's MAC address as 12 hex digits (a stable, unique service name)."""
    return f"{uuid.getnode():012x}"


def default_service_name(kind: str) -> str:
    """`jarvis-<kind>-<host>`: unique per machine, readable in HA's discovery list."""
    host = socket.gethostname().split(".")[0] or mac_name()
    return f"jarvis-{kind}-{host}"


def local_address(host: str) -> str:
    """The IPv4 address to advertise for a listener bound to `host`."""
    if host not in ("", "0.0.0.0", "::", "localhost"):
        with contextlib.suppress(OSError):
            return socket.gethostbyname(host)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((_MDNS_GROUP, 5353))  # no packet is sent: this only picks a route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class Advertiser:
    """Registers services on `add`, withdraws them all on `close`."""

    def __init__(self) -> None:
        """Nothing is opened until the first `add`."""
        self._zc: AsyncZeroconf | None = None
        self._infos: list[AsyncServiceInfo] = []

    async def add(
        self, name: str, host: str, port: int, properties: dict[str, str] | None = None
    ) -> None:
        """Advertise `name` for a listener on host:port (raises on failure)."""
        ip = local_address(host)
        if ip.startswith("127."):
            _LOGGER.warning(
                "Advertising %s on loopback %s: other machines cannot reach it "
                "(listen on 0.0.0.0 to serve the LAN)",
                name,
                ip,
            )
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{name}.{SERVICE_TYPE}",
            addresses=[socket.inet_aton(ip)],
            port=port,
            properties=properties or {},
            server=f"{socket.gethostname().split('.')[0]}.local.",
        )
        if self._zc is None:
            self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        await self._zc.async_register_service(info, allow_name_change=True)
        self._infos.append(info)
        _LOGGER.info("Advertising %s on %s:%s via zeroconf", info.name, ip, port)

    async def close(self) -> None:
        """Withdraw every advertisement and close."""
        zc, self._zc = self._zc, None
        if zc is None:
            return
        for info in self._infos:
            with contextlib.suppress(OSError, ValueError, KeyError, ZeroconfError):
                await zc.async_unregister_service(info)
        self._infos.clear()
        await zc.async_close()
