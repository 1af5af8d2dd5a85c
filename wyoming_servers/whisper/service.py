"""The speech-to-text server as a whole: options, CLI flags, shared model/scheduler, `ServerSpec`.

Embedding it (e.g. `jarvis-servers`, STT and TTS in one process)::

    parser = argparse.ArgumentParser()
    add_arguments(parser)                    # the STT flags (wyoming_wire.cli adds --uri etc.)
    args = parser.parse_args()
    service = WhisperService(options_from_args(args))  # loads the model (blocking, ~1.5 s)
    spec = service.server_spec(uri="tcp://127.0.0.1:10300", zeroconf=None)
    await serve([spec, ...])                 # from wyoming_wire

The model is loaded once per process (see `engine.load_model`). The HA names refresher, if
configured, starts with the first client or when `await service.start()` is called.

The HA token is best given in a file (`--ha-token-file`) or `$HA_TOKEN`: a `--ha-token` on the
command line can be read by any local user from /proc/PID/cmdline, so it is warned about.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
import logging
import os
from pathlib import Path

from wyoming.info import AsrModel, AsrProgram, Attribution, Info

from wyoming_wire import Limits, ServerSpec
from wyoming_wire.cli import limits_from_args

from .engine import DEFAULT_MODEL, EngineOptions, WhisperEngine
from .ha_names import HomeAssistantNames, build_prompt, clean_names
from .scheduler import DecodeScheduler
from .stream import AudioBudget, StreamSettings

_LOGGER = logging.getLogger(__name__)

DEFAULT_URI = "tcp://127.0.0.1:10300"
VERSION = "0.1.0"
HA_FIRST_FETCH_WAIT_S = 1.0
PROMPT_CACHE_SIZE = 32


@dataclass
class WhisperOptions:
    """Everything the STT server is configured with."""

    engine: EngineOptions = field(default_factory=EngineOptions)
    stream: StreamSettings = field(default_factory=StreamSettings)
    max_queue: int = 16
    max_audio_s: float = 120.0
    max_buffered_s: float = 900.0
    """Audio all connections may buffer together (16 kHz int16: 32 KB a second)."""
    limits: Limits = field(default_factory=Limits)
    ha_url: str | None = None
    ha_token: str | None = None
    ha_refresh_s: float = 300.0
    log_transcripts: bool = False
    """Log transcript texts at INFO (else at DEBUG only: they are what people said at home)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the speech-to-text flags."""
    group = parser.add_argument_group("speech-to-text (faster-whisper)")
    group.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="tiny.en or base (bundled), a faster-whisper model name, or a local model folder "
        f"(default {DEFAULT_MODEL})",
    )
    group.add_argument(
        "--download",
        action="store_true",
        help="let faster-whisper download a named model missing from its cache",
    )
    group.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    group.add_argument(
        "--compute-type",
        default="auto",
        help="CTranslate2 compute type: auto (int8 on CPU, float16 on CUDA), int8, float32...",
    )
    group.add_argument("--beam-size", type=int, default=5, help="beam size (default 5)")
    group.add_argument(
        "--threads", type=int, default=0, help="CPU threads per decode (default 0: automatic)"
    )
    group.add_argument(
        "--workers", type=int, default=1, help="decodes run at the same time (default 1)"
    )
    group.add_argument(
        "--max-queue", type=int, default=16, help="decodes allowed to wait (default 16)"
    )
    group.add_argument(
        "--language",
        default=None,
        help="language when a request names none (default: auto-detect, or en for .en models)",
    )
    group.add_argument(
        "--no-speculate",
        action="store_true",
        help="decode only after audio-stop (no decoding during trailing silence)",
    )
    group.add_argument(
        "--trigger-ms",
        type=int,
        default=150,
        help="silence after the VAD's end of speech that starts a speculative decode; the VAD "
        "itself lags the real end of speech by 0.2-0.5 s (default 150)",
    )
    group.add_argument(
        "--partial-ms",
        type=int,
        default=None,
        help="while speech is heard, decode the audio so far each time this much more came "
        "(partial transcripts as transcript-chunk events); 0: only in the trailing silence "
        "(default: 400 where the model decodes in windows under 30 s; else 0, where a "
        "partial costs as much as the final decode)",
    )
    group.add_argument(
        "--early-end-ms",
        type=int,
        default=0,
        help="send the transcript before audio-stop, this long after the last sound, when the "
        "decode of everything said already ends a sentence (Home Assistant then ends the "
        "speech-to-text stage: the turn ends before its 0.7 s of silence); 0: off (default)",
    )
    group.add_argument(
        "--window-seconds",
        type=float,
        default=None,
        help="audio up to this long is encoded in a window cut to its length plus "
        "--window-margin (at least --min-window) instead of Whisper's padded 30 s (the "
        "encoder's cost follows the window); 0: always 30 s (default 20)",
    )
    group.add_argument(
        "--window-margin",
        type=float,
        default=2.0,
        help="seconds of silence after the audio in a cut window (default 2.0)",
    )
    group.add_argument(
        "--min-window",
        type=float,
        default=None,
        help="a cut window is padded with silence to at least this many seconds (default: 30 "
        "for multilingual models, whose French loses words with less; 0 for English-only "
        "ones); e.g. 20: a third of the encoder's cost, and partials, for some accuracy",
    )
    group.add_argument(
        "--timestamps",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="decode Whisper's timestamp tokens too (default: on for English-only models; off, "
        "text tokens only, for multilingual ones, where it halved French word errors)",
    )
    group.add_argument(
        "--max-audio-seconds", type=float, default=120.0, help="longest utterance (default 120)"
    )
    group.add_argument(
        "--max-buffered-seconds",
        type=float,
        default=900.0,
        help="audio all clients may buffer together; a stream over it is refused with 'busy' "
        "(default 900, about 29 MB)",
    )
    group.add_argument(
        "--log-transcripts",
        action="store_true",
        help="log what was said at INFO level (default: only with --debug)",
    )
    group.add_argument("--ha-url", default=None, help="Home Assistant URL for name biasing")
    token = group.add_mutually_exclusive_group()
    token.add_argument(
        "--ha-token-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding the Home Assistant long-lived access token (preferred; or $HA_TOKEN)",
    )
    token.add_argument(
        "--ha-token",
        default=None,
        help="the token itself: avoid, any local user can read the command line; "
        "use --ha-token-file or $HA_TOKEN",
    )
    group.add_argument(
        "--ha-refresh", type=float, default=300.0, help="seconds between name refreshes"
    )


def options_from_args(args: argparse.Namespace) -> WhisperOptions:
    """Options from parsed flags (those of `add_arguments`, plus `--max-payload` if present)."""
    trigger = max(0.05, args.trigger_ms / 1000)
    return WhisperOptions(
        engine=EngineOptions(
            model=args.model,
            device=args.device,
            compute_type=args.compute_type,
            beam_size=args.beam_size,
            cpu_threads=args.threads,
            workers=args.workers,
            language=args.language,
            download=args.download,
            short_window_s=None if args.window_seconds is None else max(0.0, args.window_seconds),
            window_margin_s=max(0.0, args.window_margin),
            min_window_s=None if args.min_window is None else max(0.0, args.min_window),
            timestamps=args.timestamps,
        ),
        stream=StreamSettings(
            trigger_s=trigger,
            tail_s=trigger,
            speculate=not args.no_speculate,
            partial_s=None if args.partial_ms is None else max(0, args.partial_ms) / 1000,
            early_end_s=max(0, args.early_end_ms) / 1000,
        ),
        max_queue=args.max_queue,
        max_audio_s=args.max_audio_seconds,
        max_buffered_s=args.max_buffered_seconds,
        limits=limits_from_args(args) if hasattr(args, "max_payload") else Limits(),
        ha_url=args.ha_url,
        ha_token=_token_from_args(args),
        ha_refresh_s=args.ha_refresh,
        log_transcripts=args.log_transcripts,
    )


def _token_from_args(args: argparse.Namespace) -> str | None:
    """The HA token: --ha-token-file, else --ha-token (warned about), else $HA_TOKEN."""
    if args.ha_token_file is not None:
        try:
            token = Path(args.ha_token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"cannot read --ha-token-file {args.ha_token_file}: {err}") from err
        if not token:
            raise ValueError(f"--ha-token-file {args.ha_token_file} is empty")
        return token
    if args.ha_token:
        _LOGGER.warning(
            "--ha-token on the command line is visible to every local user (ps, "
            "/proc/PID/cmdline); pass --ha-token-file PATH or $HA_TOKEN instead"
        )
        return str(args.ha_token)
    return os.environ.get("HA_TOKEN") or None


class WhisperService:
    """Shared state of the server: model, decode scheduler, HA names, `info`."""

    def __init__(self, options: WhisperOptions) -> None:
        """Load the model (blocking: call before the event loop serves clients)."""
        self.options = options
        if not _LOGGER.isEnabledFor(logging.DEBUG):
            logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per decode
        self.engine = WhisperEngine(options.engine)
        self.scheduler = DecodeScheduler(options.engine.workers, options.max_queue)
        self.audio_budget = AudioBudget(options.max_buffered_s)
        self._prompts: OrderedDict[tuple[str, ...], str] = OrderedDict()
        self.names: HomeAssistantNames | None = None
        if options.ha_url:
            if not options.ha_token:
                raise ValueError("--ha-url needs --ha-token-file (or $HA_TOKEN)")
            self.names = HomeAssistantNames(options.ha_url, options.ha_token, options.ha_refresh_s)
        self.info = self._build_info()

    def _build_info(self) -> Info:
        attribution = Attribution(
            name="SYSTRAN/faster-whisper", url="https://github.com/SYSTRAN/faster-whisper"
        )
        model = AsrModel(
            name=self.options.engine.model,
            description=f"Whisper {self.options.engine.model} "
            f"({self.options.engine.resolved_compute_type()})",
            attribution=attribution,
            installed=True,
            version=None,
            languages=self.engine.languages,
        )
        return Info(
            asr=[
                AsrProgram(
                    name="jarvis-whisper",
                    description="Jarvis streaming speech-to-text (faster-whisper, partial "
                    "transcripts while you speak)",
                    attribution=attribution,
                    installed=True,
                    version=VERSION,
                    models=[model],
                    supports_transcript_streaming=True,
                )
            ]
        )

    async def start(self) -> None:
        """Start background work (the HA names refresher); idempotent."""
        if self.names is not None:
            self.names.start()

    async def prompt(self, names: list[str] | None, terms: list[str] | None) -> str | None:
        """Biasing prompt: the request's names and terms, then Home Assistant's names."""
        ha: list[str] = []
        if self.names is not None:
            self.names.start()
            if self.names.state == "idle":
                await self.names.wait_ready(HA_FIRST_FETCH_WAIT_S)
            ha = [*self.names.areas, *self.names.entities]
        return self._build_prompt([*(names or []), *(terms or []), *ha]) or None

    def _build_prompt(self, names: list[str]) -> str:
        """`build_prompt` with the model's tokenizer; recent prompts are remembered."""
        key = tuple(clean_names(names))  # small: at most MAX_NAMES short names
        prompt = self._prompts.get(key)
        if prompt is None:
            prompt = build_prompt(key, count_tokens=self.engine.count_tokens)
            self._prompts[key] = prompt
            if len(self._prompts) > PROMPT_CACHE_SIZE:
                self._prompts.popitem(last=False)
        self._prompts.move_to_end(key)
        return prompt

    def handler_factory(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, limits: Limits
    ) -> WhisperHandler:
        """A handler for one client connection."""
        return WhisperHandler(self, reader, writer, limits)

    def close(self) -> None:
        """Synchronous shutdown hook: stop refreshing and the worker threads."""
        if self.names is not None:
            self.names.cancel()
        self.scheduler.close()

    def server_spec(self, uri: str = DEFAULT_URI, zeroconf: str | None = None) -> ServerSpec:
        """What `wyoming_wire.serve` needs to run this server."""
        return ServerSpec(
            uri=uri,
            handler_factory=self.handler_factory,
            name="whisper",
            limits=self.options.limits,
            zeroconf=zeroconf,
            on_stop=self.close,
        )


from .handler import WhisperHandler  # noqa: E402  (the handler module imports this one)
