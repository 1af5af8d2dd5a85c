"""Cut text arriving word by word into pieces Piper can speak early, at places a listener pauses.

A piece ends at a sentence end (always), at clause punctuation (`, ; : —`) and, while the caller is
`eager` (no audio out yet, or the listener is about to run out of audio), at a phrase boundary:
before a conjunction/preposition once enough words arrived, or after `HARD_MAX_WORDS` words.
Each piece carries the pause a listener expects after it.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

SENTENCE = "sentence"
CLAUSE = "clause"
PHRASE = "phrase"
END = "end"

PAUSE_S = {SENTENCE: 0.22, CLAUSE: 0.14, PHRASE: 0.05, END: 0.0}
"""Silence between two pieces, by the kind of break that ends the first."""

EAGER_PHRASE_WORDS = 4
"""While eager, a phrase boundary counts once this many words are waiting."""
HARD_MAX_WORDS = 10
"""While eager, cut after this many words even without a boundary."""
CALM_CLAUSE_WORDS = 6
"""When not eager, clause punctuation ends a piece only if it holds this many words."""

_PHRASE_STARTERS = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "which",
        "who",
        "whose",
        "when",
        "while",
        "if",
        "with",
        "for",
        "in",
        "on",
        "at",
        "from",
        "after",
        "before",
        "then",
        "where",
        "until",
        "unless",
        "since",
        "although",
        "though",
        "whereas",
    ]
)
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "st", "vs", "etc", "jr", "sr", "no", "approx", "e.g", "i.e", "prof"]
)
_SENTENCE_PUNCT = ".!?…"
_CLAUSE_PUNCT = ",;:—–"
_WORD = re.compile(r"\S+")
_CLOSERS = "\"')]}»”’"


@dataclass(frozen=True)
class Piece:
    """Text to speak, and how it ends."""

    text: str
    kind: str

    @property
    def pause_after(self) -> float:
        """Seconds of silence a listener expects after this piece."""
        return PAUSE_S[self.kind]

    @property
    def synth_text(self) -> str:
        """Text for Piper: a phrase cut gets a comma so it ends on a continuing, not final, tone."""
        if self.kind == PHRASE and self.text[-1:].isalnum():
            return self.text + ","
        return self.text


def _break_kind(word: str, followed: bool, next_word: str | None) -> str | None:
    """Kind of break after `word`; `followed` means whitespace came after it."""
    core = word.rstrip(_CLOSERS)
    if not core:
        return None
    last = core[-1]
    if last in _SENTENCE_PUNCT:
        if not followed:
            return None  # "3." may become "3.5"
        if last == "." and core[:-1].lower().strip("(\"'") in _ABBREVIATIONS:
            return None
        if next_word is not None and next_word[:1].islower() and last == ".":
            return None  # "e.g. this", "approx. two"
        return SENTENCE
    if last in _CLAUSE_PUNCT:
        if not followed and (len(core) < 2 or not core[-2].isalpha()):
            return None  # "1," may become "1,000"
        return CLAUSE
    return None


class Segmenter:
    """Incremental text cutter: `push()` text as it arrives, `flush()` at the end."""

    def __init__(self, sentences_only: bool = False) -> None:
        """Start with nothing pending; `sentences_only` is plain sentence-level streaming."""
        self._buf = ""
        self.sentences_only = sentences_only

    @property
    def pending(self) -> str:
        """Text received but not yet cut into a piece."""
        return self._buf

    def push(self, text: str, eager: bool) -> list[Piece]:
        """Add text; return the pieces now complete.

        `eager` lets the first piece returned end at a phrase boundary (or any clause
        punctuation); the pieces after it in the same call wait for calm breaks.
        """
        self._buf += text
        pieces: list[Piece] = []
        while (piece := self._cut(eager and not pieces)) is not None:
            pieces.append(piece)
        return pieces

    def flush(self) -> list[Piece]:
        """Everything left, as pieces (the last one ends with `END`)."""
        pieces: list[Piece] = []
        while (piece := self._cut(eager=False)) is not None:
            pieces.append(piece)
        rest = " ".join(self._buf.split())
        self._buf = ""
        if any(ch.isalnum() for ch in rest):
            pieces.append(Piece(rest, END))
        elif pieces:
            pieces[-1] = Piece(pieces[-1].text + (" " + rest if rest else ""), pieces[-1].kind)
        return pieces

    def _cut(self, eager: bool) -> Piece | None:
        if self.sentences_only:
            eager = False
        matches = list(_WORD.finditer(self._buf))
        for i, match in enumerate(matches):
            word = match.group()
            followed = match.end() < len(self._buf)
            next_word = matches[i + 1].group() if i + 1 < len(matches) else None
            count = i + 1
            kind = _break_kind(word, followed, next_word)
            if next_word is not None and "\n" in self._buf[match.end() : matches[i + 1].start()]:
                kind = kind or SENTENCE
            if kind == CLAUSE and (
                self.sentences_only or (not eager and count < CALM_CLAUSE_WORDS)
            ):
                kind = None
            if kind is None and eager and next_word is not None:
                next_complete = matches[i + 1].end() < len(self._buf)
                if (
                    count >= EAGER_PHRASE_WORDS
                    and next_complete
                    and next_word.lower().strip("\"'(") in _PHRASE_STARTERS
                ) or count >= HARD_MAX_WORDS:
                    kind = PHRASE
            if kind is not None and any(ch.isalnum() for ch in self._buf[: match.end()]):
                text = " ".join(self._buf[: match.end()].split())
                self._buf = self._buf[match.end() :].lstrip()
                return Piece(text, kind)
        return None
