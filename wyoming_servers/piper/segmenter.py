"""Cut text arriving word by word into pieces Piper can speak early, at places a listener pauses.

A piece ends at a sentence end (always), at clause punctuation (`, ; : —`) and, while the caller is
`eager` (no audio out yet, or the listener is about to run out of audio), at a phrase boundary:
before a conjunction/preposition once enough words arrived, or after `HARD_MAX_WORDS` words
(before the last conjunction/preposition among them if there was one).
The first piece of a request is cut sooner still: once `FIRST_PHRASE_WORDS` words wait, also
before a verb that follows its subject ("The living room lights | are now off"), so the first
audio is a short phrase Piper renders in a few tens of milliseconds. English and French.
Each piece carries the pause a listener expects after it.

Cost bounds (a LAN peer chooses the text): a piece never exceeds `MAX_PIECE_CHARS` (cut at the
best clause or word gap before it), a word longer than `MAX_WORD_CHARS` is split, a run without
whitespace keeps only its first `MAX_RUN_CHARS`, control characters become spaces, and a cut
looks at no more than one piece's worth of text, so cutting costs O(text) in all.
"""

from __future__ import annotations

from dataclasses import dataclass
import re

SENTENCE = "sentence"
CLAUSE = "clause"
PHRASE = "phrase"
END = "end"

PAUSE_S = {SENTENCE: 0.16, CLAUSE: 0.14, PHRASE: 0.05, END: 0.0}
"""Silence between two pieces, by the kind of break that ends the first (plus the 20 ms kept on
each side when trimming): 200 ms between sentences is about what Piper leaves itself (120-140 ms
after a sentence, 0-70 ms before the next), so the reply lasts as long as Piper's own."""

EAGER_PHRASE_WORDS = 4
"""While eager, a phrase boundary counts once this many words are waiting."""
FIRST_PHRASE_WORDS = 3
"""For the first piece of a request, a phrase boundary counts once this many words are waiting."""
HARD_MAX_WORDS = 10
"""While eager, cut after this many words even without a boundary."""
CALM_CLAUSE_WORDS = 6
"""When not eager, clause punctuation ends a piece only if it holds this many words."""
MAX_PIECE_CHARS = 160
"""Longest piece (about 9 s of speech); a longer sentence is cut at a clause or word gap."""
MAX_WORD_CHARS = 40
"""Longer "words" are split (hardly a real word is this long; a URL is read in parts)."""
MAX_RUN_CHARS = 60
"""A run without whitespace keeps only this many characters (up to 15 s of speech when read
letter by letter); the rest is dropped."""

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
        # French
        "et",
        "mais",
        "ou",
        "donc",
        "car",
        "qui",
        "quand",
        "lorsque",
        "si",
        "avec",
        "pour",
        "dans",
        "sur",
        "pendant",
        "depuis",
        "puis",
        "parce",
        "sans",
        "jusqu'à",
    ]
)
_FIRST_STARTERS = _PHRASE_STARTERS | frozenset(
    [
        # a verb or infinitive after its subject: "Your next meeting | is at ten"
        "is",
        "are",
        "was",
        "were",
        "will",
        "would",
        "can",
        "could",
        "should",
        "has",
        "have",
        "had",
        "to",
        "that",
        "by",
        "about",
        "into",
        "during",
        # French: "La lumière du salon | est allumée"
        "est",
        "sont",
        "sera",
        "seront",
        "était",
        "va",
        "vont",
        "à",
        "au",
        "aux",
        "vers",
    ]
)
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "st", "vs", "etc", "jr", "sr", "no", "approx", "e.g", "i.e", "prof"]
)
_SENTENCE_PUNCT = ".!?…"
_CLAUSE_PUNCT = ",;:—–"
_STARTER = "starter"  # a gap before a phrase starter
_WORD = re.compile(r"\S+")
_TOKEN = re.compile(r"\s+|\S+")
_LONG_WORD = re.compile(rf"\S{{{MAX_WORD_CHARS + 1},}}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CLOSERS = "\"')]}»”’"
_SENTENCE_END = re.compile(r"[.!?…][\"')\]}»”’]*(?=\s)|\n")


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


def _split_word(match: re.Match[str]) -> str:
    """A too-long word in parts of `MAX_WORD_CHARS`, after punctuation where there is some."""
    word, parts = match.group(), []
    while len(word) > MAX_WORD_CHARS:
        head = word[:MAX_WORD_CHARS]
        gap = max(head.rfind(ch) for ch in "-/_.,;:&+=|")
        cut = gap + 1 if gap >= MAX_WORD_CHARS // 2 else MAX_WORD_CHARS
        parts.append(word[:cut])
        word = word[cut:]
    return " ".join([*parts, word])


class Segmenter:
    """Incremental text cutter: `push()` text as it arrives, `flush()` at the end."""

    def __init__(self, sentences_only: bool = False) -> None:
        """Start with nothing pending; `sentences_only` is plain sentence-level streaming."""
        self._buf = ""
        self._run = 0  # length of the whitespace-free run the text ends with
        self.sentences_only = sentences_only
        self._first = True  # no piece cut yet
        self.dropped = 0
        """Characters dropped: over-long runs, long stretches of symbols only."""

    @property
    def pending(self) -> str:
        """Text received but not yet cut into a piece."""
        return self._buf

    def push(self, text: str, eager: bool) -> list[Piece]:
        """Add text; return the pieces now complete.

        `eager` lets the first piece returned end at a phrase boundary (or any clause
        punctuation); the pieces after it in the same call wait for calm breaks.
        """
        self.feed(text)
        pieces: list[Piece] = []
        while (piece := self._cut(eager and not pieces)) is not None:
            pieces.append(piece)
        return pieces

    def feed(self, text: str) -> None:
        """Add text without cutting it yet (`next_piece` cuts, one piece at a time)."""
        self._buf += self._clean(text)
        if _LONG_WORD.search(self._buf):
            self._buf = _LONG_WORD.sub(_split_word, self._buf)

    def next_piece(self, eager: bool) -> Piece | None:
        """With all the text in: the next piece (the last ends with `END`); None at the end.

        Lets a one-shot request decide, piece by piece, whether the listener needs the next
        piece early (`eager`) or can wait for a calm break.
        """
        piece = self._cut(eager)
        if piece is not None:
            return piece
        rest = self.flush()  # nothing cuts eagerly, so nothing cuts calmly: only the end is left
        return rest[0] if rest else None

    def sentence_chars(self) -> int:
        """Characters pending up to the next sentence end (all when none): the next calm piece."""
        match = _SENTENCE_END.search(self._buf)
        return match.end() if match else len(self._buf)

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

    def _clean(self, text: str) -> str:
        """Control characters as spaces; runs without whitespace cut to `MAX_RUN_CHARS`."""
        text = _CONTROL.sub(" ", text)
        out: list[str] = []
        for token in _TOKEN.findall(text):
            if token[0].isspace():
                self._run = 0
                out.append(token)
                continue
            keep = max(0, MAX_RUN_CHARS - self._run)
            self._run += len(token)
            self.dropped += max(0, len(token) - keep)
            out.append(token[:keep])
        return "".join(out)

    def _take(self, end: int, kind: str) -> Piece:
        text = " ".join(self._buf[:end].split())
        self._buf = self._buf[end:].lstrip()
        self._first = False
        return Piece(text, kind)

    def _cut(self, eager: bool) -> Piece | None:
        while (piece := self._scan(eager)) is not None:
            if any(ch.isalnum() for ch in piece.text):
                return piece
            self.dropped += len(piece.text)  # a forced cut of symbols only: nothing to say
        return None

    def _scan(self, eager: bool) -> Piece | None:
        if self.sentences_only:
            eager = False
        first = eager and self._first
        starters = _FIRST_STARTERS if first else _PHRASE_STARTERS
        phrase_words = FIRST_PHRASE_WORDS if first else EAGER_PHRASE_WORDS
        words = _WORD.finditer(self._buf)  # lazy: only one piece's worth is looked at
        match, count, length = next(words, None), 0, 0
        gaps: dict[str, tuple[int, int]] = {}  # last gap of each kind: (end, piece length)
        while match is not None:
            after = next(words, None)
            word = match.group()
            count += 1
            length += len(word) + (count > 1)
            if length > MAX_PIECE_CHARS:
                return self._forced_cut(gaps, match.start())
            followed = match.end() < len(self._buf)
            next_word = after.group() if after is not None else None
            kind = _break_kind(word, followed, next_word)
            if after is not None and "\n" in self._buf[match.end() : after.start()]:
                kind = kind or SENTENCE
            starter = (
                next_word is not None
                and after is not None
                and after.end() < len(self._buf)
                and next_word.lower().strip("\"'(") in starters
            )
            if followed:  # where a forced cut could go
                gaps[PHRASE] = (match.end(), length)
                if kind == CLAUSE:
                    gaps[CLAUSE] = gaps[PHRASE]
                if starter:
                    gaps[_STARTER] = gaps[PHRASE]
            if kind == CLAUSE and (
                self.sentences_only or (not eager and count < CALM_CLAUSE_WORDS)
            ):
                kind = None
            if kind is None and eager and next_word is not None:
                if count >= phrase_words and starter:
                    kind = PHRASE
                elif count >= HARD_MAX_WORDS:
                    # No boundary came in time: cut before the last conjunction/preposition
                    # if there was one ("are now off | and the thermostat is set to twenty"),
                    # else here.
                    end, _ = gaps.get(_STARTER, (0, 0))
                    if end and any(ch.isalnum() for ch in self._buf[:end]):
                        return self._take(end, PHRASE)
                    kind = PHRASE
            if kind is not None and any(ch.isalnum() for ch in self._buf[: match.end()]):
                return self._take(match.end(), kind)
            match = after
        return None

    def _forced_cut(self, gaps: dict[str, tuple[int, int]], word_start: int) -> Piece:
        """A piece would grow past `MAX_PIECE_CHARS`: cut at a clause, a phrase start, or a gap."""
        for kind in (CLAUSE, _STARTER, PHRASE):
            end, length = gaps.get(kind, (0, 0))
            if length >= MAX_PIECE_CHARS // 2 or (kind == PHRASE and end):
                return self._take(end, CLAUSE if kind == CLAUSE else PHRASE)
        return self._take(word_start + MAX_PIECE_CHARS, PHRASE)  # a single word: hard cut
