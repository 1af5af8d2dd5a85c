"""Streaming speech-to-text Wyoming server on faster-whisper.

`python -m wyoming_servers.whisper` / `jarvis-whisper` run it. To embed it in another process use
`WhisperService`, `add_arguments` and `options_from_args` (see `service`'s docstring).
"""

from __future__ import annotations

from .service import DEFAULT_URI, WhisperOptions, WhisperService, add_arguments, options_from_args

__all__ = ["DEFAULT_URI", "WhisperOptions", "WhisperService", "add_arguments", "options_from_args"]
