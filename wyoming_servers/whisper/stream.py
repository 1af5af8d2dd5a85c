"""One utterance decoded while it arrives.

Audio (16 kHz mono int16) is kept and followed by a VAD. While the person speaks, the growing
buffer is decoded every `partial_s` (when no decode of this stream is running): the words two
successive hypotheses agree on (LocalAgreement) become partial text, `take_partial()`. Once the
speaker has been silent for
`trigger_s`, the speech so far (trimmed of silence, with a little margin) is decoded speculatively
on a worker. If no further speech arrives before `audio-stop`, that decode is the answer, often
already finished; if speech resumed, the stale result is dropped and the new window decoded
(with the 30 s window, a stale decode gives up after its encoder step).
The last decode in a pause that agreed with the partials is kept as the head: where a later
window leaves the partials out (a first command dropped), the audio after the head is decoded.

The audio all open streams hold together is capped by an `AudioBudget`; a stream gives its share
back (and frees its buffer) once its final decode has its copy, or when it is dropped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial as partial_fn
import logging
import time

import numpy as np
from numpy.typing import NDArray

from .audio import TARGET_RATE, to_float32
from .engine import Decoded, Head, Sent, WhisperEngine, word_key
from .levels import SoundLevels, frame_levels
from .scheduler import FINAL, SPECULATIVE, DecodeScheduler
from .vad import SpeechTracker

_LOGGER = logging.getLogger(__name__)

END_MARGIN_S = 0.1
"""A decode in a pause takes this much audio past the last sound."""
HOLD_MARGIN_S = 0.05
"""A decode must reach this far past the last sound to stand for the whole utterance. Less
than `END_MARGIN_S`: the last sound creeps later by tens of ms as the room tone settles
("Allume la lumière", base: 1.51 s -> 1.58 s; the decode taken at 1.66 s was then dropped at
`audio-stop` and done again, 1.24 s instead of 0.3 s)."""
DEFAULT_PARTIAL_S = 0.4
LIVE_SLACK_S = 1.0
"""Audio may run this far ahead of the wall clock and still count as live (partials)."""
AFTER_HEAD_S = 0.3
"""A decode in a pause stands for the start of a later window only if this much audio follows."""
VAD_WARMUP_S = 0.8
"""pymicro-vad needs this much audio before its first verdict: speech that early keeps the start."""


@dataclass(frozen=True)
class StreamSettings:
    """Timing of the speculative decode and the silence trimming."""

    trigger_s: float = 0.15
    """Silence after speech that starts a speculative decode."""
    lead_s: float = 1.5
    """Audio kept before the first speech frame (generous: cutting into a word costs accuracy)."""
    tail_s: float = 0.15
    """Audio kept after the last speech frame (never more than `trigger_s`)."""
    speculate: bool = True
    early_end_s: float = 0.0
    """End the turn this long after the last sound when the decode of everything said so far
    already ends a sentence (`early_answer`); 0: never, wait for `audio-stop`."""
    partial_s: float | None = None
    """Decode the growing buffer each time this much new audio came while there is sound
    (partial transcripts; the decode at the end of speech is then the only one left); 0: never.
    None: 0.4 s where the model decodes in windows under 30 s, else 0: with the 30 s window a
    partial costs as much as the final decode and delays it (measured, French base)."""


class AudioBudget:
    """Samples of 16 kHz audio that all open streams may buffer together."""

    def __init__(self, seconds: float) -> None:
        """Allow `seconds` of audio in all."""
        self.limit = int(seconds * TARGET_RATE)
        self.used = 0

    def take(self, samples: int) -> bool:
        """Reserve `samples`; False (nothing reserved) if that would pass the limit."""
        if self.used + samples > self.limit:
            return False
        self.used += samples
        return True

    def give(self, samples: int) -> None:
        """Return samples reserved with `take`."""
        self.used = max(0, self.used - samples)


@dataclass
class _Attempt:
    window: tuple[int, int]
    audio: NDArray[np.float32] | None = None
    """The window's samples until the decode ends (a cancelled task's traceback outlives it)."""
    task: asyncio.Task[Decoded] | None = None
    started: bool = False
    may_be_final: bool = True
    """False for a partial decode whose window the final decode would not cut short."""
    partial: bool = False
    lead_in: bool = False
    """Decoded after silence (after a decode of the same audio left out words already sent)."""
    stale: bool = False
    """Sound came after its window: a decode in a pause gives up after its encoder step."""

    def mark_started(self) -> None:
        self.started = True

    def is_stale(self) -> bool:
        return self.stale

    def drop_audio(self, _task: object = None) -> None:
        self.audio = None


class StreamingTranscriber:
    """Feed audio with `add`, then `await finish()` for the transcript."""

    def __init__(
        self,
        engine: WhisperEngine,
        scheduler: DecodeScheduler,
        language: str | None,
        prompt: str | None = None,
        settings: StreamSettings | None = None,
        *,
        budget: AudioBudget | None = None,
    ) -> None:
        """Start an utterance; `language` None auto-detects."""
        self.engine = engine
        self.scheduler = scheduler
        self.language = language
        self.prompt = prompt
        self.settings = settings or StreamSettings()
        self._budget = budget
        self._pcm = bytearray()
        self._samples = 0
        self._tracker = SpeechTracker()
        self._attempt: _Attempt | None = None
        self._released = False
        self.speculative_decodes = 0
        self.reused = False
        partial_s = self.settings.partial_s
        if partial_s is None:
            partial_s = DEFAULT_PARTIAL_S if engine.cheap else 0.0
        self._partial_s = partial_s
        self._cheap = engine.short_window_s > 0
        """Decodes are cheap (cut windows): also decode on quiet by energy, before the VAD's
        verdict; with the 30 s window a decode at each pause would hold up the final one."""
        self._last_decode_at = 0
        """Samples received when the last decode during speech started."""
        self._hypothesis: list[str] = []
        self._repeated = False
        """The last decode heard word for word what the one before it heard."""
        self._committed: list[str] = []
        self._sent = 0
        """Committed words already handed out by `take_partial`."""
        self._head: tuple[int, Head] | None = None
        """The last decode in a pause that agreed with the partials: its window start, its
        length and text (`engine.decode`'s `head`)."""
        self._first_at = 0.0
        self._sound = SoundLevels()
        self._carry: NDArray[np.int16] = np.zeros(0, np.int16)

    @property
    def seconds(self) -> float:
        """Audio received so far."""
        return self._samples / TARGET_RATE

    def add(self, samples: NDArray[np.int16]) -> bool:
        """Append audio; may start a speculative decode (never blocks).

        False, and nothing added, if the budget of buffered audio is spent or the stream was
        released.
        """
        if not samples.size:
            return True
        if self._released or (self._budget is not None and not self._budget.take(samples.size)):
            return False
        if not self._samples:
            self._first_at = time.monotonic()
        pcm = samples.tobytes()
        self._pcm += pcm
        self._samples += samples.size
        self._tracker.feed(pcm)
        self._track_levels(samples)
        self._mark_stale()
        if self.settings.speculate and self._tracker.span is not None:
            trigger = int(self.settings.trigger_s * TARGET_RATE)
            if self._tracker.silence_samples >= trigger:
                if not self._covered():
                    self._maybe_speculate()
            elif not self._live():
                pass  # a backlog (audio faster than real time): decode once it is all here
            elif self._cheap and self._quiet_for_trigger():
                if not self._covered():
                    self._maybe_speculate()  # quiet by energy while the VAD still lags
            elif self._partial_s > 0:
                self._maybe_partial()  # partials only while there is sound
        return True

    def _mark_stale(self) -> None:
        """Flag a running decode whose window the last sound has passed (it cannot stand).

        Only the 30 s window's decodes read the flag (see `_start`).
        """
        attempt = self._attempt
        if (
            not self.engine.cheap
            and attempt is not None
            and not attempt.stale
            and attempt.task is not None
            and not attempt.task.done()
            and attempt.window[1] < self._speech_end(HOLD_MARGIN_S)
        ):
            attempt.stale = True

    def _live(self) -> bool:
        """The audio is coming in about real time (not a backlog read at once)."""
        elapsed = time.monotonic() - self._first_at
        return self._samples / TARGET_RATE <= elapsed + LIVE_SLACK_S

    def _track_levels(self, samples: NDArray[np.int16]) -> None:
        """Append the level (dB) of each whole 10 ms frame."""
        data = np.concatenate([self._carry, samples]) if self._carry.size else samples
        whole = len(data) // 160 * 160
        if whole:
            self._sound.extend(frame_levels(data[:whole]))
        self._carry = data[whole:]

    def _quiet_frames(self) -> int:
        """10 ms frames since the last sound (see `_speech_end`), all of them if none."""
        return len(self._sound) - (self._sound.last_sound() + 1)

    def _quiet_for_trigger(self) -> bool:
        """The last `trigger_s` were all quieter than a sound (by energy)."""
        return self._quiet_frames() * 160 >= int(self.settings.trigger_s * TARGET_RATE)

    def _covered(self) -> bool:
        """The last decode started reaches past the last sound and may stand as the final one."""
        attempt = self._attempt
        return (
            attempt is not None
            and attempt.may_be_final
            and attempt.window[1] >= self._speech_end(HOLD_MARGIN_S)
        )

    def _maybe_partial(self) -> None:
        """Decode the speech so far, `partial_s` after the last such decode, if none runs."""
        if self._samples - self._last_decode_at < int(self._partial_s * TARGET_RATE):
            return
        attempt = self._attempt
        if attempt is not None and attempt.task is not None and not attempt.task.done():
            return
        if not self.scheduler.has_room(SPECULATIVE):
            return
        self._last_decode_at = self._samples
        self.speculative_decodes += 1
        self._attempt = self._start(self._window(), SPECULATIVE, partial=True)

    def _heard(self, task: asyncio.Task[Decoded]) -> None:
        """A decode ended: commit the words it agrees on with the previous hypothesis."""
        if task.cancelled() or task.exception() is not None or self._released:
            return
        if task.result().stale:
            return
        words = task.result().text.split()
        agreed = 0
        for old, new in zip(self._hypothesis, words, strict=False):
            if word_key(old) != word_key(new):
                break
            agreed += 1
        self._repeated = agreed == len(words) == len(self._hypothesis)
        self._hypothesis = words
        agreed = min(agreed, len(words) - 1)  # the last word may still be cut by the buffer end
        if agreed > len(self._committed) and all(
            word_key(a) == word_key(b) for a, b in zip(self._committed, words, strict=False)
        ):
            self._committed = words[:agreed]

    def early_answer(self) -> Decoded | None:
        """The transcript, if the turn can end before `audio-stop`, else None.

        It can once `early_end_s` passed since the last sound and a final decode reaching past
        that sound ends with a full stop, ? or ! (Whisper's own sense of a finished sentence),
        not an ellipsis.
        """
        attempt = self._attempt
        if (
            self.settings.early_end_s <= 0
            or attempt is None
            or attempt.task is None
            or not attempt.task.done()
            or attempt.task.cancelled()
            or attempt.task.exception() is not None
            or attempt.window[0] != self._window()[0]
        ):
            return None
        decoded = attempt.task.result()
        quiet = self._quiet_frames()
        if (
            not decoded.final
            or not decoded.text.rstrip().endswith((".", "?", "!"))
            or _trails_off(decoded.text)
            or quiet * 160 < int(self.settings.early_end_s * TARGET_RATE)
            or attempt.window[1] < self._speech_end(HOLD_MARGIN_S)
        ):
            return None
        self.reused = True
        return decoded

    def take_partial(self) -> str:
        """Newly committed text since the last call ("" if none), e.g. "Turn on the"."""
        new = self._committed[self._sent :]
        if not new:
            return ""
        text = (" " if self._sent else "") + " ".join(new)
        self._sent = len(self._committed)
        return text

    def rest_of(self, decoded: Decoded) -> str | None:
        """The final text past what `take_partial` handed out.

        None where the final words disagree with it: then only the `transcript` is right.
        """
        sent = self._committed[: self._sent]
        words = decoded.text.split()
        if len(words) < len(sent) or any(
            word_key(a) != word_key(b) for a, b in zip(sent, words, strict=False)
        ):
            return None
        rest = " ".join(words[len(sent) :])
        return " " + rest if sent and rest else rest

    def _window(self) -> tuple[int, int]:
        """Sample range to decode: speech plus margins, or everything if no speech was detected."""
        total = self._samples
        span = self._tracker.span
        if span is None:
            return (0, total)
        start = span.start - int(self.settings.lead_s * TARGET_RATE)
        if span.start <= int(VAD_WARMUP_S * TARGET_RATE) or start < 0:
            start = 0
        tail = min(self.settings.tail_s, self.settings.trigger_s)
        end = min(total, span.end + int(tail * TARGET_RATE))
        return (start, end)

    def _guess_window(self) -> tuple[int, int]:
        """The window of a decode in a pause: past the last sound by energy at least.

        The VAD's end of speech may come before it.
        """
        start, end = self._window()
        return start, max(end, self._speech_end())

    def _maybe_speculate(self) -> None:
        window = self._guess_window()
        attempt = self._attempt
        if attempt is not None and attempt.task is not None:
            if attempt.window == window:
                return  # already decoding this window
            if not attempt.task.done():
                if attempt.started:
                    return  # a stale decode is running: its thread cannot be stopped
                attempt.task.cancel()  # stale and still queued: replace it
        if not self.scheduler.has_room(SPECULATIVE):
            return
        self.speculative_decodes += 1
        self._attempt = self._start(window, SPECULATIVE)

    def _start(
        self,
        window: tuple[int, int],
        priority: int,
        partial: bool = False,
        lead_in: bool = False,
    ) -> _Attempt:
        # One float copy of the window (the int16 view is gone before the buffer grows again).
        count = window[1] - window[0]
        audio = to_float32(np.frombuffer(self._pcm, np.int16, count=count, offset=window[0] * 2))
        attempt = _Attempt(window, audio, partial=partial, lead_in=lead_in)
        attempt.may_be_final = not partial or count <= self.engine.short_window_s * TARGET_RATE
        engine, language, prompt = self.engine, self.language, self.prompt
        short = partial or self._live()  # a file sent at once: accuracy first, the 30 s window
        words = self._committed[: self._sent]
        # With the 30 s window, a decode in a pause that speech went on past holds up the next
        # one by a whole decode: it stops after its encoder step instead.
        stale = None
        if priority == SPECULATIVE and not partial and not self.engine.cheap:
            stale = attempt.is_stale
        sent = None
        if words and not partial:
            sent = Sent(
                agrees=partial_fn(_begins_with, sent=words),
                left_out=partial_fn(_leaves_out, sent=words),
                head=self._head_for(window),
            )
        # The words already sent as partials are not given as Whisper's prefix: a first word
        # misheard in a partial ("Caron on the kitchen light") would be forced into the
        # transcript; the final decode may correct it (`rest_of` then leaves the chunks).

        def decode() -> Decoded:
            samples = attempt.audio
            if samples is None:
                raise RuntimeError("decode dropped before a worker took it")
            return engine.decode(
                samples,
                language,
                prompt,
                partial=partial,
                fallback=priority == FINAL,
                short=short,
                lead_in=lead_in,
                sent=sent,
                stale=stale,
            )

        attempt.task = asyncio.create_task(
            self.scheduler.run(priority, decode, attempt.mark_started), name="whisper decode"
        )
        attempt.task.add_done_callback(attempt.drop_audio)
        attempt.task.add_done_callback(_consume)
        attempt.task.add_done_callback(self._heard)
        if _LOGGER.isEnabledFor(logging.DEBUG):
            attempt.task.add_done_callback(lambda task: _log_decode(attempt, priority, task))
        if priority == SPECULATIVE and not partial and not lead_in:
            attempt.task.add_done_callback(lambda task: self._after_guess(attempt, task))
        return attempt

    def _head_for(self, window: tuple[int, int]) -> Head | None:
        """The head (see `_keep_head`) for a decode of `window`, if it starts the same way."""
        if self._head is None:
            return None
        start, head = self._head
        if start != window[0] or window[1] - start - head.samples < AFTER_HEAD_S * TARGET_RATE:
            return None
        return head

    def _keep_head(self, attempt: _Attempt, decoded: Decoded) -> None:
        """Remember a decode in a pause that agrees with the partials sent.

        If speech goes on and a later window's decode leaves those words out (tiny.en drops the
        first of two commands said in one go), the engine decodes only the audio after it.
        """
        text = decoded.text.rstrip()
        # One that stands: not one that trails off ("What time? We'll set a timer for...").
        if text and self._stands(decoded):
            start, end = attempt.window
            # "I'll set a timer for a second." (then "five minutes") is no command's end.
            settled = text.endswith((".", "?", "!")) and self._repeated
            self._head = (start, Head(end - start, decoded.text, settled))

    def _after_guess(self, attempt: _Attempt, task: asyncio.Task[Decoded]) -> None:
        """Decode a pause's audio again at once, after silence, if it left out words sent.

        As where its segments skip sound: `LEAD_IN_S` of silence before the audio.

        tiny.en heard "set a timer for 5" + "turn on the living room lamp" as "Turn on the
        living room, Liam." after "We'll set a timer" was sent; that next try began only at
        `audio-stop`, and the transcript came 0.6-1.2 s after it. (A 30 s decode started in the
        silence where the cut window was unsure stood for "I'll set it timer": not kept.)
        """
        if task.cancelled() or task.exception() is not None or self._released:
            return
        self._keep_head(attempt, task.result())
        if (
            self._attempt is not attempt
            or not self._covered()
            or not self.scheduler.has_room(SPECULATIVE)
            or not self._lead_in_next(attempt, task.result())
        ):
            return
        self.speculative_decodes += 1
        self._attempt = self._start(attempt.window, SPECULATIVE, lead_in=True)

    def _stands(self, decoded: Decoded) -> bool:
        """A decode may be the transcript: final, agreeing with the partials, not trailing off.

        A partial window ending 0.2 s after "what time is it" heard "What time is..." (tiny.en,
        the last word at the window's end): Whisper's own sign that the sentence goes on.
        """
        return decoded.final and not _trails_off(decoded.text) and self._agrees(decoded)

    def _lead_in_next(self, attempt: _Attempt, decoded: Decoded) -> bool:
        """Whether the cut window's decode left out the words sent as partials.

        Then the next try is the lead-in pass rather than the usual final decode.
        """
        return (
            not attempt.partial
            and not attempt.lead_in
            and decoded.final
            and not self._agrees(decoded)
        )

    def _agrees(self, decoded: Decoded) -> bool:
        """Its first words are the ones sent as partials (see `_begins_with`)."""
        return _begins_with(decoded, self._committed[: self._sent])

    async def finish(self) -> Decoded:
        """The transcript of everything received; reuses the last decode when it still holds.

        It holds when it decoded the same window, or one that reaches past the last sound
        louder than the room tone (the VAD lags the end of speech by up to 0.6 s; the energy
        does not), its result is final (not a partial decode's unsure guess) and it begins with
        the words already sent (some may have been sent while it ran; see `_agrees`).
        """
        window = self._window()
        lead_in = False
        while (attempt := self._attempt) is not None and attempt.task is not None:
            if attempt.window[0] != window[0] or (
                attempt.window != window and attempt.window[1] < self._speech_end(HOLD_MARGIN_S)
            ):
                lead_in = False
                break  # stale: speech came after its window
            lead_in = attempt.lead_in
            if not attempt.started:
                break  # queued at low priority: queue it again as final
            try:
                decoded = await self._wait(attempt.task)
            except Exception:  # noqa: BLE001  (the final decode below tries again)
                decoded = Decoded(text="", language="", final=False)
            if self._stands(decoded):
                self.reused = True
                self.release()
                return decoded
            if self._attempt is attempt:
                lead_in = self._lead_in_next(attempt, decoded)
                break
            # `_after_guess` already started its next try: wait for that one.
        self._cancel_attempt()
        self._attempt = self._start(window, FINAL, lead_in=lead_in)
        self.reused = False
        self.release()  # the final decode has its own copy
        assert self._attempt.task is not None
        return await self._wait(self._attempt.task)

    def _speech_end(self, margin_s: float = END_MARGIN_S) -> int:
        """Where the last sound ends, plus `margin_s`.

        A sound: 10 ms (level smoothed over 50 ms) louder than the room tone by `LOUD_DB`,
        and within 40 dB of the loudest; the room tone follows a room that gets louder
        during the utterance (`levels.SoundLevels`).
        """
        last = self._sound.last_sound()
        if last < 0:
            return self._samples
        return min(self._samples, (last + 1) * 160 + int(margin_s * TARGET_RATE))

    async def _wait(self, task: asyncio.Task[Decoded]) -> Decoded:
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()  # the caller left: drop the decode (queued: it leaves the queue)
            raise

    def release(self) -> None:
        """Free the buffered audio and give its share of the budget back (idempotent)."""
        if self._released:
            return
        self._released = True
        self._pcm = bytearray()
        if self._budget is not None:
            self._budget.give(self._samples)
        self.scheduler.trim_when_idle()  # e.g. a client that streamed 2 min and left

    def cancel(self) -> None:
        """Drop the stream: its queued or running decode and its audio."""
        self._cancel_attempt()
        self.release()

    def _cancel_attempt(self) -> None:
        task = self._attempt.task if self._attempt is not None else None
        if task is not None and not task.done():
            task.cancel()


def _log_decode(attempt: _Attempt, priority: int, task: asyncio.Task[Decoded]) -> None:
    """At DEBUG: which decode of which window ended how (the text is a transcript)."""
    kind = "final" if priority == FINAL else "partial" if attempt.partial else "speculative"
    start, end = attempt.window[0] / TARGET_RATE, attempt.window[1] / TARGET_RATE
    if task.cancelled() or task.exception() is not None:
        _LOGGER.debug("Decode (%s) of %.2f-%.2f s dropped", kind, start, end)
        return
    decoded = task.result()
    _LOGGER.debug(
        "Decode (%s%s) of %.2f-%.2f s in %.3f s%s: %s",
        kind,
        ", lead-in" if attempt.lead_in else "",
        start,
        end,
        decoded.seconds,
        " (given up: speech went on)" if decoded.stale else "" if decoded.final else " (unsure)",
        decoded.text,
    )


def _consume(task: asyncio.Task[Decoded]) -> None:
    """Retrieve a dropped decode's outcome so asyncio does not log it as unhandled."""
    if not task.cancelled():
        exc = task.exception()
        if exc is not None:
            _LOGGER.debug("Decode failed: %s", exc)


def _trails_off(text: str) -> bool:
    """Whisper ended the text with an ellipsis: it heard the sentence go on."""
    return text.rstrip().endswith(("..", "…"))


def _leaves_out(decoded: Decoded, sent: list[str]) -> bool:
    """More than half the words `sent` are not at its start.

    Not one misheard: "I'll set" sent, then "Set a timer for five minutes." is a correction
    (the 30 s window confirms it), not a command left out.
    """
    return not _begins_with(decoded, sent, share=2)


def _begins_with(decoded: Decoded, sent: list[str], share: int = 3) -> bool:
    """Its first words are `sent` (the partials), but for one in three at most (one of two).

    A word may be misheard, added or left out: tiny.en hears the first word of "set a timer"
    as "We'll", "I'll" or nothing by turns, and a partial "We'll set a timer" must not cost the
    right "Set a timer for 5. Turn on ..." its place (then only the `transcript` has the right
    words, see `rest_of`). Before, the final decode of such a single command was done again
    in the 30 s window; with two words sent ("I'll set"), it still was, 0.6 s after the end of
    speech in `bench.e2e`, for the same "Set a timer for five minutes.".
    """
    if not sent:
        return True
    words = [word_key(word) for word in decoded.text.split()]
    keys = [word_key(word) for word in sent]
    allowed = max(len(keys) // share, min(1, len(keys) - 1))
    return any(
        edit_distance(keys, words[:length]) <= allowed
        for length in range(max(0, len(keys) - allowed), len(keys) + allowed + 1)
    )


def edit_distance(a: list[str], b: list[str]) -> int:
    """Words to change, add or leave out to turn `a` into `b`."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]
