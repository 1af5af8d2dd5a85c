"""Who may drive and control the satellite; anyone may `describe`, `ping` and pair.

Three modes, from the `[server]` settings:

- **pairing** (`pairing_secret_file` or `pairing_secret` set): a connection must pair first
  (`satellite.pairing`), the device's own connections too; `allowed_peers`, if set, also applies.
- **allow-list** (`allowed_peers` set): those addresses and networks, plus the device itself.
- **tofu**, trust on first use (the default): the first address that drives the satellite is
  remembered in the state file, and from then on only it and the device itself may drive or
  control. `jarvis-satellite control --forget-driver` (or deleting the state file and
  restarting) lets the next driver be remembered. Until one is, any address may drive, and
  only the device itself may control.

"The device itself" is 127.0.0.1 and ::1 (the local `control` command, or a Home Assistant on
the same host); it is never remembered. Other loopback addresses count as other peers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import contextlib
import ipaddress
import json
import logging
import os
from pathlib import Path
from typing import Any

_LOGGER = logging.getLogger(__name__)

LOCAL = frozenset({"127.0.0.1", "::1", "local"})
STATE_NAME = "satellite-state.json"


def state_path(setting: str) -> Path:
    """The state file: the setting, else systemd's StateDirectory, else the XDG state dir."""
    if setting:
        return Path(setting).expanduser()
    if systemd := os.environ.get("STATE_DIRECTORY"):
        return Path(systemd.split(":")[0]) / STATE_NAME
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "jarvis" / STATE_NAME


def normalise(host: str) -> str:
    """A peer address in one spelling (IPv4-mapped IPv6 as IPv4, no zone)."""
    try:
        addr = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


class Access:
    """The satellite's access policy and the remembered driver."""

    def __init__(
        self, allowed_peers: Sequence[str], state_file: Path, secret: bytes | None
    ) -> None:
        """`allowed_peers` are addresses/CIDRs (checked by the configuration)."""
        self.networks = [ipaddress.ip_network(p, strict=False) for p in allowed_peers]
        self.state_file = state_file
        self.secret = secret
        self.trusted: str | None = None
        self._unreadable: str | None = None  # a broken state file: nobody remote is trusted

    @property
    def mode(self) -> str:
        """One of "pairing", "allow-list" or "tofu"."""
        if self.secret is not None:
            return "pairing"
        return "allow-list" if self.networks else "tofu"

    def load(self) -> None:
        """Read the remembered driver (blocking: run it in a thread)."""
        if self.mode == "pairing":
            _LOGGER.info("Only paired peers may drive or control this satellite")
            return
        if self.mode == "allow-list":
            allowed = ", ".join(str(n) for n in self.networks)
            _LOGGER.info("Peers that may drive or control this satellite: %s", allowed)
            return
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            peer = data["trusted_peer"]
            if peer is not None:
                peer = str(ipaddress.ip_address(peer))
        except FileNotFoundError:
            _LOGGER.info("No driver remembered yet: the first one is trusted (%s)", self.state_file)
            return
        except (OSError, ValueError, KeyError, TypeError) as err:
            self._unreadable = f"state file {self.state_file} is unreadable"
            _LOGGER.error(
                "%s (%s): only this device may drive the satellite until it is fixed or "
                "deleted, or `jarvis-satellite control --forget-driver` is run",
                self._unreadable, err,
            )  # fmt: skip
            return
        self.trusted = peer
        _LOGGER.info("Trusted driver: %s (from %s)", peer, self.state_file)

    def _listed(self, host: str) -> bool:
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.networks)

    def refusal(self, host: str, *, paired: bool, driving: bool) -> str | None:
        """Why `host` may not send a driving (or control) event now; None if it may."""
        host = normalise(host)
        if self.secret is not None:
            if not paired:
                return "pair first (jarvis-pair-request)"
            if self.networks and host not in LOCAL and not self._listed(host):
                return f"{host} is not in server.allowed_peers"
            return None
        if host in LOCAL:
            return None
        if self.networks:
            return None if self._listed(host) else f"{host} is not in server.allowed_peers"
        if self._unreadable is not None:
            return self._unreadable
        if self.trusted is None:
            return None if driving else "only this device may control it until a driver is trusted"
        if self.trusted != host:
            return f"{host} is not the trusted driver"
        return None

    async def remember(self, host: str) -> None:
        """Trust on first use: remember the first remote driver (persisted)."""
        host = normalise(host)
        if self.mode != "tofu" or self.trusted is not None or host in LOCAL:
            return
        if self._unreadable is not None:
            return
        self.trusted = host  # before any await: a racing second peer is already refused
        _LOGGER.info("Trusting %s as this satellite's driver (%s)", host, self.state_file)
        await asyncio.to_thread(self._save)

    async def forget(self) -> None:
        """Forget the remembered driver: the next one is trusted."""
        if self.mode != "tofu":
            return
        self.trusted = None
        self._unreadable = None
        _LOGGER.info("Forgot the trusted driver: the next one is trusted")
        await asyncio.to_thread(self._save)

    def _save(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        try:
            self.state_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp.write_text(json.dumps({"trusted_peer": self.trusted}) + "\n", encoding="utf-8")
            tmp.replace(self.state_file)
        except OSError as err:
            _LOGGER.error(
                "Cannot write %s (%s): the trusted driver is forgotten on restart",
                self.state_file, err,
            )  # fmt: skip
            with contextlib.suppress(OSError):
                tmp.unlink()

    def status(self) -> dict[str, Any]:
        """For the control command's status."""
        if self.mode == "tofu":
            return {"mode": "tofu", "trusted_peer": self.trusted}
        if self.mode == "allow-list":
            return {"mode": "allow-list", "allowed_peers": [str(n) for n in self.networks]}
        return {"mode": "pairing"}
