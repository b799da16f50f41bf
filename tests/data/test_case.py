"""Our own ``case`` transform: exact round trip on adversarial text, and its byte weights."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pgolf.data import case

ADVERSARIAL = [
    "",
    "Hello World! NASA's CEO said: I like iPhone and McDonald's.",
    "ÉCOLE école Ⱥⱥ AȺ ȺA ǅungla ß ẞ STRASSE \u212a Kelvin İstanbul ΣΊΣΥΦΟΣ Ωmega",
    "A1B2 COVID19 x2Y __INIT__ snake_Case CamelCaseWord ABCdef abcDEF",
    "😀X 👍🏽 中文ABC ﬁ ﬀ Ⅻ ⅻ ǈ",
    "\ue000\ue001\ue002\ue003\u2581 x\ue010 \ue003\ue011 \ue000A",
    "  leading and trailing  \n\n\tTabs\r\nCRLF  ",
    "I", "A", "AB", "Ab", "aB", "\u2581",
]


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_round_trip_and_bytes(text):
    t = case.encode(text)
    assert case.decode(t) == text
    assert "\u2581" not in t  # SentencePiece would decode it as a space
    w = case.byte_weights(t.encode("utf-8"))
    assert len(w) == len(t.encode("utf-8")) and (w >= 0).all()
    assert int(w.sum()) == len(text.encode("utf-8"))


def test_lowers_and_marks():
    assert case.encode("Paris") == case.TITLE + "paris"
    assert case.encode("NASA") == case.UPPER + "nasa"
    assert case.encode("I") == case.CAP + "i"
    assert case.encode("McDonald") == case.TITLE + "mc" + case.CAP + "donald"
    # an operator that starts a word goes before its space, so the word keeps its ▁ piece
    assert case.encode("a Paris, NASA I") == ("a" + case.TITLE + " paris," + case.UPPER + " nasa"
                                             + case.CAP + " i")
    assert case.encode("ß \u212a") == "ß \u212a"  # not invertible: untouched
    assert case.encode("a\ue001b") == "a" + case.ESC + case.CODES[1] + "b"


def test_random_strings_round_trip():
    rng = random.Random(0)
    alphabet = list("aAbBzZ 1_'\n") + ["É", "é", "Ⱥ", "ⱥ", "ß", "ẞ", "\u212a", "ǅ", "Σ", "ς", "😀", "中",
                                        *case.RESERVED, *case.CODES]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        t = case.encode(text)
        assert case.decode(t) == text, repr(text)
        assert int(case.byte_weights(t.encode("utf-8")).sum()) == len(text.encode("utf-8")), repr(text)


def test_word_class_is_stable_under_lowering():
    """The decoder finds an UPPER word in lowered text: lowering must keep every letter a word char."""
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        low = case.invertible_lower(c)
        if low is not None:
            assert bool(case.WORD.fullmatch(c)) == bool(case.WORD.fullmatch(low)), hex(cp)
            assert low.upper() == c


@pytest.mark.parametrize("bad", [case.TITLE, "x" + case.UPPER, case.UPPER + "a", case.CAP + "1",
                                 case.ESC + "x", case.TITLE + "ß",
                                 case.TITLE + " ", case.UPPER + " 1", case.ESC + " " + case.CODES[0]])
def test_malformed_transformed_text_is_refused(bad):
    with pytest.raises(case.CaseError):
        case.decode(bad)


def test_sidecar_of_a_character_split_across_byte_pieces():
    """A lowered capital whose UTF-8 length differs, written as byte-fallback pieces."""
    from pgolf.data.sidecar import PieceText, doc_sidecar

    text = "Ⱥb"
    t = case.encode(text)  # TITLE + "ⱥb": the lowered letter is 3 bytes, the capital 2
    data = t.encode("utf-8")
    # a toy vocabulary: id 0 the operator, ids 1.. the bytes of "ⱥ" as byte pieces, then "b"
    pieces = PieceText(length=np.array([3, 0, 0, 0, 1]), byte=np.array([-1, *data[3:6], -1], dtype=np.int16))
    side = doc_sidecar(None, pieces, t, [0, 1, 2, 3, 4], t, case.byte_weights)
    assert side.tolist() == [0, 0, 0, 0, 2, 1]  # BOS, TITLE, the letter on its last byte, "b"
    assert int(side.sum()) == len(text.encode("utf-8"))
