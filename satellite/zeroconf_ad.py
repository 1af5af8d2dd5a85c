"""Announce the satellite as `_wyoming._tcp.local.` so Home Assistant discovers it.

Home Assistant's wyoming integration uses the zeroconf instance name as part of the
config entry's unique id; like wyoming-satellite, the default name is the MAC address.
"""

from __future__ import annotations

import logging
import socket
import uuid

from zeroconf import Error as ZeroconfError, IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_wyoming._tcp.local."
_MDNS_GROUP = "224.0.0.251"


def mac_name() -> str:
    """The device's MAC address as 12 hex digits."""
    return f"{uuid.getnode():012x}"


def local_address(host: str) -> str:
    """The address to advertise: `host` itself unless it is a wildcard."""
    if host not in ("", "0.0.0.0", "::"):
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.setblocking(False)
        probe.connect((_MDNS_GROUP, 1))  # no packet is sent: this only picks a route
        return str(probe.getsockname()[0])


def service_info(name: str, address: str, port: int, satellite_name: str) -> AsyncServiceInfo:
    """The mDNS record for this satellite."""
    return AsyncServiceInfo(
        SERVICE_TYPE,
        f"{name}.{SERVICE_TYPE}",
        addresses=[socket.inet_aton(address)],
        port=port,
        properties={"name": satellite_name, "kind": "satellite"},
    )


class ZeroconfAdvertiser:
    """Registers the service on start, unregisters it on stop."""

    def __init__(self, port: int, host: str = "", name: str = "", satellite_name: str = "") -> None:
        """Advertise `port` under `name` (default: the MAC address)."""
        self.name = name or mac_name()
        self.port = port
        self.host = host
        self.satellite_name = satellite_name or self.name
        self._zc: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None

    async def start(self) -> bool:
        """Register; False (with a warning) when the network does not allow it."""
        try:
            address = local_address(self.host)
            self._info = service_info(self.name, address, self.port, self.satellite_name)
            self._zc = AsyncZeroconf(ip_version=IPVersion.V4Only)
            await self._zc.async_register_service(self._info, allow_name_change=True)
        except (OSError, ValueError, ZeroconfError) as err:
            _LOGGER.warning("Zeroconf announcement failed (%s); add the satellite by hand", err)
            await self.stop()
            return False
        _LOGGER.info("Announced %s on %s:%s", self._info.name, address, self.port)
        return True

    async def stop(self) -> None:
        """Unregister and close."""
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            if self._info is not None:
                await zc.async_unregister_service(self._info)
        except (OSError, ValueError, KeyError, ZeroconfError) as err:
            _LOGGER.debug("Zeroconf unregister failed: %s", err)
        finally:
            await zc.async_close()
