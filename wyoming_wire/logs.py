"""Log set-up for the Jarvis Wyoming processes, and `LogOnce` for lines a peer could repeat."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and any `extra=` fields."""

    _STANDARD = frozenset(
        logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
    )

    def format(self, record: logging.LogRecord) -> str:
        """Render one record."""
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: int | str = logging.INFO, log_format: str = "text") -> None:
    """Configure the root logger on stderr (`log_format`: text or json)."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class LogOnce:
    """Log a kind of message at most once per `every_s` per key, counting what was held back.

    For messages a LAN peer can trigger at will (refused connections, exhausted descriptors):
    the log says it happened and how often, without growing by a line per attempt.
    """

    def __init__(self, logger: logging.Logger, every_s: float = 60.0) -> None:
        """Rate-limit lines of `logger`."""
        self._logger = logger
        self._every_s = every_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def reset(self) -> None:
        """Forget what was logged (a new process phase, or between tests)."""
        self._last.clear()
        self._held.clear()

    def __call__(
        self, level: int, key: str, msg: str, *args: object, exc_info: BaseException | None = None
    ) -> bool:
        """Log `msg % args` unless `key` was logged less than `every_s` ago; True if logged."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self._every_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) > 1024:  # keys are peer addresses: keep the table small
            self._last.clear()
            self._held.clear()
        held = self._held.pop(key, 0)
        self._last[key] = now
        if held:
            msg = f"{msg} (%d more since the last report)"
            args = (*args, held)
        self._logger.log(level, msg, *args, exc_info=exc_info)
        return True
