"""The lossless case transform: exact round trip on adversarial text, and its byte weights."""

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
    w = case.byte_weights(t)
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
        assert int(case.byte_weights(t).sum()) == len(text.encode("utf-8")), repr(text)


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


def test_token_bytes_split_a_character_across_tokens():
    t = case.encode("Ⱥb")  # TITLE + "ⱥb": the lowered letter is 3 bytes, the capital 2
    data = t.encode("utf-8")
    pieces = [data[:3], data[3:4], data[4:6], data[6:]]  # operator, then byte-fallback style pieces
    nbytes = case.token_bytes(pieces, t)
    assert nbytes.tolist()[0] == 0 and int(nbytes.sum()) == len("Ⱥb".encode("utf-8"))
    with pytest.raises(case.CaseError):
        case.token_bytes(pieces[:-1], t)
    assert np.all(nbytes >= 0)
