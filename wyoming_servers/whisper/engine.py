"""faster-whisper model loading (once per process) and one blocking decode call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import itertools
import logging
from pathlib import Path
import re
import threading
import time

from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens
import numpy as np
from numpy.typing import NDArray
import tqdm  # type: ignore[import-untyped]

from wyoming_servers.models import resolve_whisper_model

from .levels import frame_levels, loud_frames

_LOGGER = logging.getLogger(__name__)

DEFAULT_MODEL = "tiny.en"
SAMPLE_RATE = 16000
FULL_WINDOW_FRAMES = 3000
"""Whisper's 30 s encoder window, in mel frames (100 a second)."""
WINDOW_STEP_FRAMES = 100
MAX_PARTIAL_S = 20.0
"""Longest audio decoded for partial transcripts (past it, none are sent)."""
TOKENS_PER_SECOND = 12
"""Most text tokens a second of speech may give in a short window (more: a repetition loop)."""
MAX_TOKENS = 448
"""Whisper's decoder length (prompt + generated tokens)."""
UNCOVERED_S = 0.5
"""Sound this long before the first timestamped segment or after the last: words were skipped."""
LEAD_IN_S = 0.6
"""Silence put before the audio when a short window skipped words (Whisper drops words that
start at its window's first frame, measured on two commands said in one go)."""

# faster-whisper makes a (disabled) tqdm bar per decode; keep tqdm from starting a monitor thread.
tqdm.tqdm.monitor_interval = 0


class _Stale(Exception):
    """A decode given up after its encoder step (see `decode`'s `stale`)."""


class LanguageError(ValueError):
    """The requested language is not one the model knows."""


@dataclass(frozen=True)
class EngineOptions:
    """How the model is loaded and decoded."""

    model: str = DEFAULT_MODEL
    """Bundled name (tiny.en, base), a faster-whisper model name, or a local CTranslate2 folder."""
    device: str = "cpu"
    compute_type: str = "auto"
    """int8, int8_float32, float16, float32...; auto = int8 on CPU, float16 on CUDA."""
    beam_size: int = 5
    cpu_threads: int = 0
    """CTranslate2 threads per decode (0: its default)."""
    workers: int = 1
    """Decodes that may run at the same time."""
    language: str | None = None
    """Default language when a request names none; None auto-detects (multilingual models)."""
    download: bool = False
    """Let faster-whisper download a named model missing from its cache (else: error)."""
    short_window_s: float | None = None
    """Audio up to this long is encoded in a window cut to its length (plus `window_margin_s`,
    at least `min_window_s`) instead of Whisper's padded 30 s; 0 turns this off. The encoder's
    cost follows the window. None: 20 s."""
    window_margin_s: float = 2.0
    """Silence (zero samples) after the audio in a short window."""
    min_window_s: float | None = None
    """A short window is padded with silence to at least this long. None: 30 s for multilingual
    models (measured, French base: the fewer padded frames, the more misheard words, "Serme"
    for "Ferme"; 20 s costs the encoder a third of 30 s and stays level with
    wyoming-faster-whisper's WER, but single commands lose words), 0 for English-only ones
    (tiny.en hears as well in a window cut to the audio)."""
    timestamps: bool | None = None
    """Decode Whisper's timestamp tokens too; off: text tokens only (measured: fewer misheard
    words, French base and tiny.en, in every window length). None: off for multilingual models,
    on for English-only ones (off, HA's early end of turn with tiny.en stopped coming in time;
    not yet understood)."""

    def resolved_compute_type(self) -> str:
        """The compute type actually used."""
        if self.compute_type != "auto":
            return self.compute_type
        return "int8" if self.device == "cpu" else "float16"


@dataclass(frozen=True)
class Head:
    """The audio's first `samples`, already heard as `text` by a decode in a pause."""

    samples: int
    text: str
    settled: bool = False
    """It ends a sentence, and its decode heard word for word what the one before it heard:
    the audio after it is decoded first, before the window holding both."""


@dataclass(frozen=True)
class Sent:
    """The words a stream already sent as partials, which its later decodes must keep."""

    agrees: Callable[[Decoded], bool]
    """The decode begins with them (one word in three may differ)."""
    left_out: Callable[[Decoded], bool]
    """The decode leaves them out (most of them, not one misheard word)."""
    head: Head | None = None


@dataclass
class Decoded:
    """One transcription."""

    text: str
    language: str
    segments: list[str] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of the decode."""
    final: bool = True
    """False for a partial decode's hypothesis that a final decode would not give as is."""
    stale: bool = False
    """Given up after the encoder step, no text (see `WhisperEngine.decode`'s `stale`)."""


_MODELS: dict[tuple[str, str, str, int, int], WhisperModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(options: EngineOptions) -> WhisperModel:
    """The model for these options; loaded once per process, shared by every server in it.

    Raises FileNotFoundError for a missing folder, or a named model not in faster-whisper's cache
    (unless `options.download`).
    """
    path = resolve_whisper_model(options.model)
    local = Path(path).expanduser().exists()
    if options.model.startswith(("/", ".", "~")) and not local:
        raise FileNotFoundError(f"Whisper model folder {options.model} not found")
    compute_type = options.resolved_compute_type()
    workers = max(1, options.workers)
    key = (path, options.device, compute_type, options.cpu_threads, workers)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is not None:
            return model
        started = time.monotonic()
        try:
            model = WhisperModel(
                path,
                device=options.device,
                compute_type=compute_type,
                cpu_threads=options.cpu_threads,
                num_workers=workers,
                local_files_only=local or not options.download,
            )
        except Exception as err:
            if local or options.download:
                raise
            raise FileNotFoundError(
                f"Whisper model {options.model!r} is not bundled, not a folder, and not in "
                f"faster-whisper's cache; download it first or pass --download ({err})"
            ) from err
        _LOGGER.info(
            "Loaded Whisper model %s (%s) in %.2f s",
            options.model,
            compute_type,
            time.monotonic() - started,
            extra={"model": options.model, "path": path},
        )
        _MODELS[key] = model
        return model


def normalise_language(language: object) -> str | None:
    """`en-US`, `EN`, `fr_FR` -> `en`, `en`, `fr`; empty -> None."""
    if not language:
        return None
    if not isinstance(language, str):
        raise LanguageError(f"language must be a string, got {language!r}")
    return language.replace("_", "-").split("-")[0].strip().lower() or None


class WhisperEngine:
    """A loaded model plus decode settings. `decode` blocks: call it from a worker thread."""

    def __init__(self, options: EngineOptions) -> None:
        """Load (or reuse) the model."""
        self.options = options
        self.model = load_model(options)
        self.multilingual = bool(self.model.model.is_multilingual)
        self.languages: list[str] = (
            sorted(self.model.supported_languages) if self.multilingual else ["en"]
        )
        window = options.short_window_s
        self.short_window_s: float = 20.0 if window is None else window
        least = options.min_window_s
        self.min_window_s: float = (30.0 if self.multilingual else 0.0) if least is None else least
        stamps = options.timestamps
        self.timestamps: bool = (not self.multilingual) if stamps is None else stamps
        self.on_decoded: Callable[[float, float], None] | None = None
        """Metrics: told (seconds of audio, seconds of decoding) after each decode, on its thread."""
        self._call = threading.local()
        """The running decode's `stale` check, per worker thread."""

    @property
    def cheap(self) -> bool:
        """Live audio is decoded in windows shorter than 30 s (a partial decode is affordable)."""
        return self.short_window_s > 0 and self.min_window_s < FULL_WINDOW_FRAMES / 100

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` for the decoder (the model's own tokenizer; well under 1 ms a name)."""
        return len(self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def pick_language(self, requested: str | None) -> str | None:
        """Language to decode with: the request's, else the default; None means auto-detect."""
        language = normalise_language(requested) or normalise_language(self.options.language)
        if not self.multilingual:
            if language not in (None, "en"):
                raise LanguageError(f"language {language!r} is not supported by this English model")
            return "en"
        if language is not None and language not in self.languages:
            raise LanguageError(f"language {language!r} is not supported by the model")
        return language

    def decode(
        self,
        audio: NDArray[np.float32],
        language: str | None,
        prompt: str | None = None,
        *,
        partial: bool = False,
        fallback: bool = True,
        short: bool = True,
        lead_in: bool = False,
        sent: Sent | None = None,
        stale: Callable[[], bool] | None = None,
    ) -> Decoded:
        """Transcribe 16 kHz mono float audio (blocking).

        `partial`: a hypothesis while the person speaks: always a short window (up to
        `MAX_PARTIAL_S`), never the slow 30 s fallback; `final` False where a final decode
        would have gone another way (then its text is only something to show).
        `fallback` False: where a short window is unsure, give up (`final` False) instead of
        decoding the 30 s window (a guess made in a pause: the final decode falls back if needed).
        `short` False: the 30 s window whatever the length (audio that did not come live).
        `lead_in`: the short window only with `LEAD_IN_S` of silence before the audio (the
        pass without it skipped words).
        `sent`: a short window's result that does not agree with the words sent as partials
        is replaced, where it left them out, by the head's text + a decode of the audio after
        it (if that agrees); else (with `fallback`) by a decode of the 30 s window; else it is
        returned as is.
        `stale`: checked before each decoding step of a short window; where true, the decode
        gives up (`Decoded.stale`): a decode in a pause that speech went on past. With the
        30 s window its encoder step takes 0.45 s, the decoding step 0.1-0.15 s more.
        """
        self._call.stale = stale
        started = time.monotonic()
        try:
            return self._decode(audio, language, prompt, partial, fallback, short, lead_in, sent)
        except _Stale:
            seconds = time.monotonic() - started
            return Decoded(
                language=language or "", text="", final=False, stale=True, seconds=seconds
            )
        finally:
            self._call.stale = None

    def _decode(  # noqa: PLR0917
        self,
        audio: NDArray[np.float32],
        language: str | None,
        prompt: str | None,
        partial: bool,
        fallback: bool,
        short: bool,
        lead_in: bool,
        sent: Sent | None,
    ) -> Decoded:
        started = time.monotonic()
        if partial:
            short = len(audio) <= MAX_PARTIAL_S * SAMPLE_RATE
            decoded = self._decode_partial(audio, language, prompt) if short else None
            if decoded is None:
                decoded = Decoded(text="", language=language or "", final=False)
            elif len(audio) > self.short_window_s * SAMPLE_RATE:
                decoded.final = False
        else:
            fits = short and len(audio) <= self.short_window_s * SAMPLE_RATE
            decoded = (
                self._decode_cut(audio, language, prompt, lead_in, sent, fallback) if fits else None
            )
            if decoded is None and fits and not fallback:
                decoded = Decoded(text="", language=language or "", final=False)
            elif decoded is None:
                decoded = self._decode_full(audio, language, prompt)
        decoded.seconds = time.monotonic() - started
        if self.on_decoded is not None and len(audio):
            self.on_decoded(len(audio) / SAMPLE_RATE, decoded.seconds)
        return decoded

    def _decode_partial(
        self, audio: NDArray[np.float32], language: str | None, prompt: str | None
    ) -> Decoded | None:
        """A hypothesis of the speech so far (its end may cut a word): one short pass."""
        return self._short_pass(audio, language, prompt, 0.0)[0]

    def _decode_cut(  # noqa: PLR0917
        self,
        audio: NDArray[np.float32],
        language: str | None,
        prompt: str | None,
        lead_in: bool,
        sent: Sent | None,
        fallback: bool,
    ) -> Decoded | None:
        """A short window (see `_decode_short`), or the head + after where it left `sent` out.

        A settled head goes first: the window holding both commands was slower (tiny.en with
        the names as the prompt loops to its token limit on "Turn on the living room lamp, Turn
        on ...", 0.5 s) and left the first out more often. None: unsure, or disagreeing and
        `fallback` (then the 30 s window).
        """
        head = sent.head if sent is not None else None
        if sent is not None and head is not None and head.settled:
            after = self._decode_after(audio, language, prompt, head)
            if after is not None and sent.agrees(after):
                return after
        stop = sent.left_out if sent is not None and head is not None else None
        decoded = self._decode_short(audio, language, prompt, lead_in, stop)
        if decoded is None or sent is None or sent.agrees(decoded):
            return decoded
        after = None
        if head is not None and not head.settled and sent.left_out(decoded):
            after = self._decode_after(audio, language, prompt, head)
        _LOGGER.debug(
            "Short window disagrees with words sent (%r): %s",
            decoded.text,
            "after the head" if after else "30 s window" if fallback else "unsure",
        )
        if after is not None and sent.agrees(after):
            return after
        return None if fallback else decoded

    def _decode_after(
        self,
        audio: NDArray[np.float32],
        language: str | None,
        prompt: str | None,
        head: Head,
    ) -> Decoded | None:
        """`head`'s text + a short window of the audio after it (its text in the prompt).

        tiny.en with the home's names as the prompt heard "set a timer for 5" + "what time is
        it" as "What time is it?" in every window holding both, the 30 s one too; from the
        pause between them, "What time is it?" alone, in 0.15 s.
        """
        if not 0 < head.samples < len(audio):
            return None
        context = " ".join(text.strip() for text in (prompt, head.text) if text and text.strip())
        # One pass: the words after a pause start at once, not at the window's first frame.
        rest = self._short_pass(audio[head.samples :], language, context or None, 0.0)[0]
        if rest is None or not rest.text.strip():
            return None  # the head's own decode may have left out what came after it
        first = head.text.strip()
        last = _sentences(first)[-1:]
        sentences = _sentences(rest.text)
        if sentences == last or any(a == b for a, b in itertools.pairwise(sentences)):
            return None  # the head's last sentence again (an echo of the prompt), or a loop
        return Decoded(
            text=f"{first} {rest.text}".strip(),
            language=rest.language,
            segments=[first, *rest.segments] if first else rest.segments,
        )

    def _decode_short(
        self,
        audio: NDArray[np.float32],
        language: str | None,
        prompt: str | None,
        lead_in: bool = False,
        stop: Callable[[Decoded], bool] | None = None,
    ) -> Decoded | None:
        """A window cut to the audio's length, or None where it is unsure (then the 30 s path).

        Where its timestamped segments leave sound uncovered (words skipped: tiny.en drops the
        first of two commands said in one go, or the second), the window is decoded again with
        `LEAD_IN_S` of silence before the audio; if that also skips sound, None. `lead_in`:
        that second pass only. A first pass for which `stop` is true is returned as is (it
        left out the words sent: the caller decodes after its head instead, faster, and it
        kept both commands where the second pass did not).
        """
        if not lead_in:
            decoded, covers = self._short_pass(audio, language, prompt, 0.0)
            if decoded is None or covers or (stop is not None and stop(decoded)):
                return decoded
            _LOGGER.debug("Short window skipped sound (%r): again with a lead-in", decoded.text)
        decoded, covers = self._short_pass(audio, language, prompt, LEAD_IN_S)
        return decoded if covers else None

    def _short_pass(
        self,
        audio: NDArray[np.float32],
        language: str | None,
        prompt: str | None,
        lead_s: float,
    ) -> tuple[Decoded | None, bool]:
        """One pass over a window cut to the audio's length, after `lead_s` of silence.

        The result (None where unsure: a repetition loop, a low score), and whether its
        segments cover the sound.
        """
        options = self.options
        if not len(audio):
            return None, True
        model = self.model
        lead = int(lead_s * SAMPLE_RATE)
        wanted = max(
            (lead + len(audio)) // 160 + int(options.window_margin_s * 100),
            int(self.min_window_s * 100),
        )
        frames = min(FULL_WINDOW_FRAMES, -(-wanted // WINDOW_STEP_FRAMES) * WINDOW_STEP_FRAMES)
        if lead + len(audio) > frames * 160:
            return None, True
        # Silence as Whisper was trained on it: zero samples after the audio, not zero features.
        padded = np.zeros(frames * 160 + 160, dtype=np.float32)
        padded[lead : lead + len(audio)] = audio
        encoded = model.encode(model.feature_extractor(padded, padding=0)[:, :frames])
        stale = getattr(self._call, "stale", None)
        if stale is not None and stale():
            raise _Stale
        if language is None:
            if not self.multilingual:
                language = "en"
            else:
                token, _probability = model.model.detect_language(encoded)[0][0]
                language = token[2:-2]
        tokenizer = Tokenizer(model.hf_tokenizer, self.multilingual, "transcribe", language)
        previous = tokenizer.encode(" " + prompt.strip()) if prompt and prompt.strip() else []
        most = int(TOKENS_PER_SECOND * len(audio) / SAMPLE_RATE) + 16
        prompt_ids = model.get_prompt(tokenizer, previous, without_timestamps=not self.timestamps)
        # CTranslate2's max_length counts the prompt too: shorter than the prompt, it crashes
        # (a segfault with the home's names as the prompt and a short partial window).
        result = model.model.generate(
            encoded,
            [prompt_ids],
            beam_size=options.beam_size,
            max_length=min(MAX_TOKENS, len(prompt_ids) + most),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
        )[0]
        tokens = result.sequences_ids[0]
        segments = _segments(tokens, tokenizer)
        texts = [segment.text for segment in segments]
        text, looped = _cut_loop("".join(texts).strip())
        if looped:
            texts = [text]
        score = result.scores[0] * len(tokens) / (len(tokens) + 1)  # faster-whisper's avg_logprob
        if result.no_speech_prob > 0.6 and score < -1.0:
            # what the full path's no-speech rule gives
            return Decoded(text="", language=language), True
        if (
            (len(tokens) >= most and not looped)
            or score < -1.0
            or get_compression_ratio(text) > 2.4
        ):
            _LOGGER.debug("Short window unsure (%r, %.2f)", text, score)
            return None, True
        decoded = Decoded(text=text, language=language, segments=[t for t in texts if t.strip()])
        return decoded, _covers(segments, audio, lead_s)

    def _decode_full(
        self, audio: NDArray[np.float32], language: str | None, prompt: str | None
    ) -> Decoded:
        segments, info = self.model.transcribe(
            audio,
            language=language,
            beam_size=self.options.beam_size,
            initial_prompt=prompt or None,
            without_timestamps=not self.timestamps,
        )
        texts = [segment.text for segment in segments]
        return Decoded(
            text="".join(texts).strip(),
            language=info.language,
            segments=[text for text in texts if text.strip()],
        )


@dataclass(frozen=True)
class _Segment:
    text: str
    start: float | None
    """Seconds from the window's start (None without timestamp tokens)."""
    end: float | None


def _segments(tokens: list[int], tokenizer: Tokenizer) -> list[_Segment]:
    """The timestamped segments, up to the first that repeats an earlier one.

    In a window cut short, Whisper may loop on the last sentence instead of ending.
    """
    segments: list[_Segment] = []
    seen: set[str] = set()
    current: list[int] = []
    start: float | None = None
    for token in [*tokens, tokenizer.eot]:
        if token < tokenizer.eot:
            current.append(token)
            continue
        stamp = None
        if token >= tokenizer.timestamp_begin:
            stamp = (token - tokenizer.timestamp_begin) * 0.02
        if not current:
            start = stamp
            continue
        text = tokenizer.decode(current)
        key = " ".join(text.lower().split())
        if key in seen:
            break
        seen.add(key)
        segments.append(_Segment(text, start, stamp))
        current, start = [], None
    return segments


def _covers(segments: list[_Segment], audio: NDArray[np.float32], lead_s: float) -> bool:
    """Whether the segments leave at most `UNCOVERED_S` of sound before or after them.

    Sound by energy; True where there are no timestamps to tell.
    """
    stamped = [s for s in segments if s.start is not None or s.end is not None]
    if not stamped:
        return True
    # Against the whole window's room tone: where the room got louder, its noise counts as
    # sound too, but a quieter room tone near the end let a skipped command through (tiny.en,
    # "set a timer" + "what time is it" heard as "What time is it?").
    loud = loud_frames(frame_levels(audio), follow=False)
    if not len(loud):
        return True
    first, last = loud[0] / 100 + lead_s, (loud[-1] + 1) / 100 + lead_s
    start, end = stamped[0].start, stamped[-1].end
    return not (
        (start is not None and start - first > UNCOVERED_S)
        or (end is not None and last - end > UNCOVERED_S)
    )


def _sentences(text: str) -> list[list[str]]:
    """Its sentences (and clauses), each as `_keys`."""
    return [_keys(part) for part in re.split(r"(?<=[.?!,;])\s+", text.strip()) if _keys(part)]


def word_key(word: str) -> str:
    """A word as hypotheses are compared: case and punctuation left out."""
    return "".join(c for c in word.lower() if c.isalnum())


def _keys(text: str) -> list[str]:
    return [word_key(word) for word in text.split()]


def _cut_loop(text: str) -> tuple[str, bool]:
    """`text` up to where a run of 3 or more words repeats at once, and whether it did.

    E.g. "turn on the lamp, turn on the lamp, turn on" -> "turn on the lamp"; also a text that
    begins itself again at its end ("turn on the lamp. Turn on the"), its first word maybe
    misheard ("We'll set a timer. I'll set a timer").
    """
    words = text.split()
    keys = _keys(text)
    for start in range(len(keys)):
        for period in range(3, (len(keys) - start) // 2 + 1):
            if keys[start : start + period] == keys[start + period : start + 2 * period]:
                return " ".join(words[: start + period]).rstrip(",;:"), True
    for start in range(3, len(keys) - 2):  # "turn on the lamp. Turn on the": begun again
        if keys[start:] == keys[: len(keys) - start] or (
            len(keys) - start > 3 and keys[start + 1 :] == keys[1 : len(keys) - start]
        ):
            return " ".join(words[:start]).rstrip(",;:"), True
    return text, False
