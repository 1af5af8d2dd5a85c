"""Where streamed text is cut into pieces to speak: early, but only where a listener pauses."""

from __future__ import annotations

import time

import pytest

from wyoming_servers.piper.segmenter import (
    CLAUSE,
    END,
    MAX_PIECE_CHARS,
    MAX_RUN_CHARS,
    MAX_WORD_CHARS,
    PHRASE,
    SENTENCE,
    Piece,
    Segmenter,
)

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


def test_first_piece_is_a_short_phrase_before_the_verb() -> None:
    out = _stream("The living room lights are now off and the heating is set to low.")
    count, first = out[0]
    assert first == Piece("The living room lights", PHRASE)
    assert count == 6  # "are" needed to be complete ("area" would not be a boundary)
    assert first.synth_text.endswith(",")  # spoken as a continuation, not a sentence end
    assert out[1][1].text == "are now off and the heating is set to low."


def test_first_piece_in_french() -> None:
    out = _stream("La lumière du salon est allumée et le chauffage est réglé sur vingt degrés.")
    assert out[0][1] == Piece("La lumière du salon", PHRASE)
    assert out[1][1].text == "est allumée et le chauffage est réglé sur vingt degrés."


def test_phrase_boundary_later_needs_a_conjunction_or_preposition() -> None:
    seg = Segmenter()
    assert seg.push("Okay, ", eager=True) == [Piece("Okay,", CLAUSE)]
    pieces = seg.push("the living room lights are now off and the heating is low. ", eager=True)
    assert pieces[0] == Piece("the living room lights are now off", PHRASE)  # not before "are"
    assert pieces[1] == Piece("and the heating is low.", SENTENCE)


def test_first_piece_waits_for_three_words() -> None:
    seg = Segmenter()
    pieces = seg.push("It is set to low and the fan is off. ", eager=True)
    assert pieces[0] == Piece("It is set", PHRASE)  # not "It" before "is"


def test_numbers_and_abbreviations_are_not_breaks() -> None:
    texts = [p.text for _, p in _stream(REPLY, eager_first=False)]
    assert "Dr. Smith said it costs 1,000 dollars," in texts
    assert "or 3.5 euros each." in texts


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        (["It costs 1,", "000 dollars."], ["It costs 1,000 dollars."]),
        (["Pi is 3.", "14 or so."], ["Pi is 3.14", "or so."]),  # 3.14 kept whole
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


def _all(seg: Segmenter, text: str, eager: bool = False) -> list[Piece]:
    return seg.push(text, eager) + seg.flush()


def test_a_long_sentence_is_cut_at_clauses_and_gaps_within_the_piece_limit() -> None:
    plain = " ".join(["the garden lights stay on near the old stone wall"] * 12) + "."
    with_commas = ", ".join(["the garden lights stay on near the old stone wall"] * 12) + "."
    for text in (plain, with_commas):
        pieces = _all(Segmenter(), text)
        assert len(pieces) > 1
        assert all(len(p.text) <= MAX_PIECE_CHARS for p in pieces)
        assert " ".join(p.text for p in pieces) == text  # every word kept, in order
    # With commas, cuts land on them.
    assert all(p.kind == CLAUSE for p in _all(Segmenter(), with_commas)[:-1])


def test_absurd_words_are_split_and_long_runs_dropped() -> None:
    seg = Segmenter()
    pieces = _all(seg, "Hello " + "x7Q" * 6666 + " there.")
    words = " ".join(p.text for p in pieces).split()
    assert words[0] == "Hello" and words[-1] == "there."
    assert all(len(w) <= MAX_WORD_CHARS for w in words)
    assert sum(len(w) for w in words[1:-1]) == MAX_RUN_CHARS
    assert seg.dropped == 3 * 6666 - MAX_RUN_CHARS
    # A run that arrives a character at a time is bounded the same way.
    seg = Segmenter()
    pieces = [p for _ in range(500) for p in seg.push("z", eager=True)] + seg.flush()
    assert sum(len(p.text.replace(" ", "")) for p in pieces) == MAX_RUN_CHARS


def test_long_words_are_split_after_punctuation_where_possible() -> None:
    url = "https://www.example.com/some/long/path/to/a/page"
    words = " ".join(p.text for p in _all(Segmenter(), url)).split()
    assert "".join(words) == url and len(words) == 2
    assert words[0].endswith("/")


def test_control_characters_become_spaces() -> None:
    pieces = _all(Segmenter(), "Lights\x00off\x1b[31m now.\x7f")
    assert [p.text for p in pieces] == ["Lights off [31m now."]


def test_cutting_costs_linear_time_even_one_character_at_a_time() -> None:
    text = "word " * 4000  # no punctuation: nothing but forced cuts
    seg = Segmenter()
    started = time.perf_counter()
    pieces = [p for ch in text for p in seg.push(ch, eager=False)] + seg.flush()
    took = time.perf_counter() - started
    assert " ".join(p.text for p in pieces) == text.strip()
    assert all(len(p.text) <= MAX_PIECE_CHARS for p in pieces)
    assert took < 2.0, f"{took:.2f} s"  # quadratic cutting took minutes here


def test_symbols_alone_are_never_a_piece() -> None:
    seg = Segmenter()
    pieces = _all(seg, "😀 " * 300 + "Done.")
    assert len(pieces) == 1 and pieces[0].text.endswith(" Done.")  # the last stretch, with a word
    assert seg.dropped > 400
    assert _all(Segmenter(), "😀 " * 30) == []  # as short symbol-only text always was


def test_hard_limit_cuts_before_the_last_conjunction_when_there_was_one() -> None:
    seg = Segmenter()
    assert seg.push("Okay, ", eager=True) == [Piece("Okay,", CLAUSE)]
    pieces = seg.push("are now off and the thermostat is set to twenty degrees. ", eager=True)
    # Not "... set to twenty" | "degrees.": the cut goes where a listener pauses.
    assert pieces[0] == Piece("are now off", PHRASE)
    assert pieces[1] == Piece("and the thermostat is set to twenty degrees.", SENTENCE)


def test_one_shot_text_is_cut_one_piece_at_a_time() -> None:
    text = "The living room lights are now off and the heating is low. See you soon!"
    seg = Segmenter()
    seg.feed(text)
    assert seg.sentence_chars() == len("The living room lights are now off and the heating is low.")
    first = seg.next_piece(eager=True)
    assert first == Piece("The living room lights", PHRASE)
    # The listener has enough audio: the rest of the sentence in one calm piece.
    assert seg.next_piece(eager=False) == Piece("are now off and the heating is low.", SENTENCE)
    assert seg.next_piece(eager=True) == Piece("See you soon!", END)
    assert seg.next_piece(eager=True) is None


def test_one_shot_cut_early_again_when_the_listener_would_wait() -> None:
    seg = Segmenter()
    seg.feed("The living room lights are now off and the thermostat is set to twenty degrees.")
    assert seg.next_piece(eager=True) == Piece("The living room lights", PHRASE)
    assert seg.next_piece(eager=True) == Piece("are now off", PHRASE)
    assert seg.next_piece(eager=True) == Piece("and the thermostat is set to twenty degrees.", END)
