"""Where streamed text is cut into pieces to speak: early, but only where a listener pauses."""

from __future__ import annotations

import pytest

from wyoming_servers.piper.segmenter import CLAUSE, END, PHRASE, SENTENCE, Piece, Segmenter

REPLY = (
    "Sure, I can help with that. The weather in Paris today is sunny with a high of twenty "
    "two degrees and a light breeze from the west. Dr. Smith said it costs 1,000 dollars, "
    "or 3.5 euros each. Would you like a reminder?"
)


def _stream(text: str, eager_first: bool = True) -> list[tuple[int, Piece]]:
    """Feed `text` word by word (LLM style); (words sent when the piece came out, piece)."""
    seg = Segmenter()
    out: list[tuple[int, Piece]] = []
    words = text.split(" ")
    for i, word in enumerate(words):
        eager = eager_first and not out
        out.extend((i + 1, p) for p in seg.push((" " if i else "") + word, eager))
    out.extend((len(words), p) for p in seg.flush())
    return out


def test_pieces_keep_every_word_in_order() -> None:
    pieces = [p for _, p in _stream(REPLY)]
    assert " ".join(p.text for p in pieces) == REPLY
    assert pieces[-1].kind == END


def test_first_piece_leaves_at_the_first_clause() -> None:
    out = _stream(REPLY)
    assert out[0] == (1, Piece("Sure,", CLAUSE))  # a comma after a word needs no confirmation
    assert out[1][1] == Piece("I can help with that.", SENTENCE)


def test_sentence_level_would_wait_for_the_whole_sentence() -> None:
    out = _stream(REPLY, eager_first=False)
    assert out[0][1].text == "Sure, I can help with that."


def test_phrase_boundary_when_no_punctuation_comes() -> None:
    out = _stream("The living room lights are now off and the heating is set to low.")
    count, first = out[0]
    assert first == Piece("The living room lights are now off", PHRASE)
    assert count == 9  # "and" needed to be complete
    assert first.synth_text.endswith(",")  # spoken as a continuation, not a sentence end
    assert out[1][1].text == "and the heating is set to low."


def test_numbers_and_abbreviations_are_not_breaks() -> None:
    texts = [p.text for _, p in _stream(REPLY, eager_first=False)]
    assert "Dr. Smith said it costs 1,000 dollars," in texts
    assert "or 3.5 euros each." in texts


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["It costs 1,", "000 dollars."], ["It costs 1,000 dollars."]),
        (["Pi is 3.", "14 or so."], ["Pi is 3.14 or so."]),
        (["Hello", ",", " world", "."], ["Hello,", "world."]),
        (["Line one\n", "Line two"], ["Line one", "Line two"]),
        (["  ", "\n"], []),
        (["Okay", " ..."], ["Okay ..."]),
    ],
)
def test_token_splits(chunks: list[str], expected: list[str]) -> None:
    seg = Segmenter()
    texts = [p.text for c in chunks for p in seg.push(c, eager=True)]
    texts += [p.text for p in seg.flush()]
    assert texts == expected


def test_calm_mode_joins_short_clauses() -> None:
    seg = Segmenter()
    pieces = seg.push("Yes, of course, right away. ", eager=False)
    assert pieces == [Piece("Yes, of course, right away.", SENTENCE)]
    assert pieces[0].pause_after > 0


def test_eager_hard_limit_without_any_boundary() -> None:
    seg = Segmenter()
    words = " ".join(f"w{i}" for i in range(14)) + " "
    first = seg.push(words, eager=True)[0]
    assert first.kind == PHRASE and len(first.text.split()) == 10
