"""``case``: our own lossless case transform, an alternative to CaseOps v1 (:mod:`pgolf.data.caseops`).

The records use CaseOps v1; this transform is not compatible with their data or tokenizer. It
differs in three ways that cost fewer tokens (docs/tokenizers.md measures it on the mini val):
an operator that starts a word goes before the word's space, capitals of any script are lowered
(not only ASCII), and its tokenizer is lossless (identity normalisation) with the operators as
ordinary characters that BPE may merge into longer pieces.

It lowers the text, marking every capital with a reserved operator.

Operators are private-use characters that never occur in ordinary text (and are escaped when
they do), so :func:`decode` restores the original exactly::

    TITLE  U+E000  the next character is upper case; starts a word of 2+ letters ("Paris")
    UPPER  U+E001  every character of the next word is upper case ("NASA", 2+ letters)
    CAP    U+E002  the next character is upper case; any other capital ("I", "McDonald")
    ESC    U+E003  the next character is a code U+E010+i standing for RESERVED[i]

An operator that starts a word goes BEFORE a single space in front of the word (``"a Paris"`` ->
``"a" TITLE " paris"``), so the word keeps its ``▁``-prefixed piece (``▁paris``, shared with the
lower-case word) instead of splitting into ``▁``, operator, ``paris``. An operator's argument is
therefore the next character, after one space when a space follows the operator.

A *word* is a maximal run of ``WORD`` characters (letters, no digits or underscore). Only
*invertible* capitals are lowered: a character ``c`` whose ``c.lower()`` is one character ``l``
with ``l != c`` and ``l.upper() == c``. Every other character (digits, ``ß``, the Kelvin sign,
title-case digraphs, emoji, ...) passes through untouched. ``RESERVED`` holds the four
operators and SentencePiece's ``▁`` (which its decoder would turn into a space); the transform
escapes each, so the text after the transform contains neither a stray operator nor ``▁``.

Byte accounting (:func:`byte_weights`): every UTF-8 byte of the transformed text carries the
number of ORIGINAL bytes it stands for: 1 for an ordinary byte, 0 for an operator, and the
difference in length when a lowered character's UTF-8 length differs from its capital's. Summed
over each token's span this is the byte sidecar (:func:`pgolf.data.sidecar.doc_sidecar`); summed
over a document it is the original UTF-8 length.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

TITLE, UPPER, CAP, ESC = "\ue000", "\ue001", "\ue002", "\ue003"
OPERATORS = (TITLE, UPPER, CAP, ESC)
RESERVED = (TITLE, UPPER, CAP, ESC, "\u2581")
CODES = tuple(chr(0xE010 + i) for i in range(len(RESERVED)))
_ESCAPE = {r: ESC + c for r, c in zip(RESERVED, CODES)}
_UNESCAPE = dict(zip(CODES, RESERVED))

WORD = re.compile(r"[^\W\d_]+")
_SPACED_WORD = re.compile(r"( ?)([^\W\d_]+)")
_RESERVED_RE = re.compile("[" + "".join(RESERVED) + "]")
_OPS_RE = re.compile("[" + "".join(OPERATORS) + "]")
# UTF-8 of the operators: b"\xee\x80\x80" .. b"\xee\x80\x83"
_OPS_BYTES_RE = re.compile(rb"\xee\x80[\x80-\x83]")


class CaseError(ValueError):
    """Transformed text that no original text maps to (a malformed operator sequence)."""


@lru_cache(maxsize=None)
def invertible_lower(c: str) -> str | None:
    """``c.lower()`` when ``c`` is a capital that upper-casing restores exactly, else None."""
    low = c.lower()
    if len(low) == 1 and low != c and low.upper() == c:
        return low
    return None


def _encode_word(m: re.Match) -> str:
    space, w = m.group(1), m.group(2)
    if w.islower() or not any(invertible_lower(c) for c in w):
        return m.group(0)
    lows = [invertible_lower(c) for c in w]
    if len(w) >= 2 and all(lows):
        return UPPER + space + "".join(lows)
    out = [space]
    for i, (c, low) in enumerate(zip(w, lows)):
        if low is None:
            out.append(c)
        elif i == 0:  # the operator goes before the space
            out[0] = (TITLE if len(w) >= 2 else CAP) + space
            out.append(low)
        else:
            out.append(CAP + low)
    return "".join(out)


def encode(text: str) -> str:
    """The transformed (lower-cased, operator-marked, escaped) text."""
    if _RESERVED_RE.search(text):
        text = _RESERVED_RE.sub(lambda m: _ESCAPE[m.group(0)], text)
    return _SPACED_WORD.sub(_encode_word, text)


def _upper_one(c: str, pos: int) -> str:
    up = c.upper()
    if len(up) != 1 or invertible_lower(up) != c:
        raise CaseError(f"operator at {pos - 1} is followed by {c!r}, which no capital lowers to")
    return up


def decode(text: str) -> str:
    """Invert :func:`encode`; a :class:`CaseError` for text that no original maps to."""
    if not _OPS_RE.search(text):
        return text
    out: list[str] = []
    i, n = 0, len(text)
    for m in _OPS_RE.finditer(text):
        j = m.start()
        if j < i:  # consumed as the argument of the previous operator
            continue
        out.append(text[i:j])
        op = m.group(0)
        if j + 1 >= n:
            raise CaseError(f"operator U+{ord(op):04X} at the end of the text")
        nxt = text[j + 1]
        if op != ESC and nxt == " ":  # an operator moved before the word's space
            out.append(" ")
            j += 1
            if j + 1 >= n:
                raise CaseError(f"operator U+{ord(op):04X} and a space at the end of the text")
            nxt = text[j + 1]
        if op == ESC:
            if nxt not in _UNESCAPE:
                raise CaseError(f"escape at {j} is followed by {nxt!r}, not an escape code")
            out.append(_UNESCAPE[nxt])
            i = j + 2
        elif op == UPPER:
            w = WORD.match(text, j + 1)
            if w is None or len(w.group(0)) < 2:
                raise CaseError(f"UPPER at {j} is not followed by a word of 2+ letters")
            out.append("".join(_upper_one(c, j + 1) for c in w.group(0)))
            i = w.end()
        else:
            out.append(_upper_one(nxt, j + 1))
            i = j + 2
    out.append(text[i:])
    return "".join(out)


def byte_weights(data: bytes) -> np.ndarray:
    """Original bytes each byte of the UTF-8 transformed text ``data`` stands for (int32; sums to
    the original length)."""
    w = np.ones(len(data), dtype=np.int32)
    for m in _OPS_BYTES_RE.finditer(data):
        a = m.start()
        w[a:a + 3] = 0
        pos = a + 3
        if data[a + 2] == 0x83 or pos >= len(data):
            continue  # an escape: its code stands for a 3-byte reserved character
        if data[pos] == 0x20:  # the operator was moved before the word's space
            pos += 1
            if pos >= len(data):
                continue
        if data[a + 2] == 0x81:  # UPPER: the whole word
            chars = _word_at(data, pos)
        elif data[pos] >= 0x80:  # TITLE / CAP before a non-ASCII letter
            chars = data[pos:pos + 4].decode("utf-8", "ignore")[:1]
        else:
            continue
        # a lowered non-ASCII capital's UTF-8 length may differ from the capital's
        for c in chars:
            lb = len(c.encode("utf-8"))
            ub = len(c.upper().encode("utf-8"))
            if ub > lb:
                w[pos] += ub - lb
            elif ub < lb:
                w[pos + ub:pos + lb] = 0
            pos += lb
    return w


def _word_at(data: bytes, pos: int) -> str:
    """The word starting at byte ``pos`` of ``data``, when it holds non-ASCII characters."""
    for size in (256, len(data)):
        chunk = data[pos:pos + size]
        if chunk.isascii():
            if size >= len(data) - pos or not chunk[-1:].isalpha():
                return ""
            continue
        text = chunk.decode("utf-8", "ignore")
        word = WORD.match(text)
        if word is None:
            return ""
        if word.end() < len(text) or size >= len(data) - pos:
            return word.group(0)
    return ""


def is_case_model(sp) -> bool:
    """Does this SentencePiece model hold every operator as a piece of its own?"""
    return all(sp.PieceToId(op) != sp.unk_id() for op in OPERATORS)
