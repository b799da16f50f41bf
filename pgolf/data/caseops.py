"""CaseOps v1 (``lossless_caps_caseops_v1``): the lossless case transform the 2026-04 records train on.

The text is lower-cased word by word and every capital is marked with one of three private-use
operators, so a tokenizer can share one piece between ``the``, ``The`` and ``THE``::

    TITLE    U+E001  before a word whose first letter is a capital
    ALLCAPS  U+E002  before a word of two or more letters, all capitals
    CAPNEXT  U+E003  before a capital letter inside a word (after its first letter)
    ESC      U+E004  before an operator character that occurs in the text itself

A *word* is a maximal run of ASCII letters ``A-Z a-z``; nothing else is touched (digits,
``É``, ``ß``, emoji pass through unchanged). A word without capitals is left alone; an all-capital
word of 2+ letters becomes ALLCAPS + the word lowered; any other word with a capital becomes TITLE
(when its first letter is a capital) + the word lowered, with CAPNEXT in front of each later
capital (``iPhone`` -> ``i`` CAPNEXT ``phone``, ``McDonald`` -> TITLE ``mc`` CAPNEXT ``donald``,
``I`` -> TITLE ``i``). The four operator characters are written as ESC + the character.

Bytes: every character of the transformed text stands for itself (a lowered ASCII letter has the
length of its capital), except an operator, which stands for nothing. So each UTF-8 byte of the
transformed text counts 1 original byte, the three bytes of an operator count 0, and an escaped
operator counts the 3 bytes of the literal character (:func:`byte_weights`).
"""

from __future__ import annotations

import re

import numpy as np

NAME = "lossless_caps_caseops_v1"  # the manifest's "text_transform"
TITLE, ALLCAPS, CAPNEXT, ESC = "\ue001", "\ue002", "\ue003", "\ue004"
OPERATORS = (TITLE, ALLCAPS, CAPNEXT, ESC)


class CaseOpsError(ValueError):
    """Transformed text that no original text maps to (a misplaced or dangling operator)."""


# an operator in the text, or a maximal ASCII-letter run that holds a capital
_ENCODE_RE = re.compile(r"[\ue001-\ue004]|(?<![A-Za-z])[a-z]*[A-Z][A-Za-z]*")
_CAPNEXT_LOWER = {c: CAPNEXT + chr(c).lower() for c in range(ord("A"), ord("Z") + 1)}


def _encode_match(m: re.Match) -> str:
    w = m.group(0)
    if w in OPERATORS:
        return ESC + w
    if len(w) >= 2 and w.isupper():
        return ALLCAPS + w.lower()
    head = TITLE + w[0].lower() if w[0].isupper() else w[0]
    return head + w[1:].translate(_CAPNEXT_LOWER)


def encode(text: str) -> str:
    """The transformed text: words lowered, capitals marked, operator characters escaped."""
    return _ENCODE_RE.sub(_encode_match, text)


# one event of the transformed text: an escape (with the character it guards), an operator, a
# run of letters, or a run of anything else
_DECODE_RE = re.compile(r"\ue004(.?)|([\ue001-\ue003])|([A-Za-z]+)|[^A-Za-z\ue001-\ue004]+", re.S)
_OP_NAMES = {TITLE: "TITLE", ALLCAPS: "ALLCAPS", CAPNEXT: "CAPNEXT"}


def decode(text: str) -> str:
    """Invert :func:`encode`; a :class:`CaseOpsError` naming the position for malformed text.

    Accepted: TITLE / ALLCAPS only where a word starts, CAPNEXT anywhere before a letter, never
    an operator left waiting for a letter at a non-letter or at the end.
    """
    if not any(op in text for op in OPERATORS):
        return text
    out: list[str] = []
    mode = None  # TITLE or ALLCAPS waiting for the next word
    capnext = False  # CAPNEXT waiting for the next letter
    in_word = allcaps = False
    for m in _DECODE_RE.finditer(text):
        esc, op, letters = m.group(1), m.group(2), m.group(3)
        if esc is not None:  # ESC + a literal character
            if not esc:
                raise CaseOpsError(f"ESC at {m.start()} ends the text")
            is_letter = esc.isascii() and esc.isalpha()
            if mode is not None and not is_letter:
                raise CaseOpsError(f"{_OP_NAMES[mode]} before {m.start()} is followed by an escaped {esc!r}")
            out.append(esc)
            in_word = is_letter
            allcaps = allcaps and is_letter
        elif op is not None:
            if op == CAPNEXT:
                if capnext:
                    raise CaseOpsError(f"CAPNEXT at {m.start()} follows another CAPNEXT")
                capnext = True
            else:
                if mode is not None or in_word or capnext:
                    raise CaseOpsError(f"{_OP_NAMES[op]} at {m.start()} is not at the start of a word")
                mode = op
        elif letters is not None:
            first, rest = letters[0], letters[1:]
            if not in_word:
                up = mode is not None or capnext
                allcaps = mode == ALLCAPS
            elif mode is not None:
                raise CaseOpsError(f"{_OP_NAMES[mode]} before {m.start()} lands inside a word")
            else:
                up = allcaps or capnext
            out.append(first.upper() if up else first)
            out.append(rest.upper() if allcaps else rest)
            mode, capnext, in_word = None, False, True
        else:
            if mode is not None or capnext:
                name = _OP_NAMES[mode] if mode is not None else "CAPNEXT"
                raise CaseOpsError(f"{name} before {m.start()} is followed by {m.group(0)[0]!r}, not a letter")
            out.append(m.group(0))
            in_word = allcaps = False
    if mode is not None or capnext:
        raise CaseOpsError(f"{_OP_NAMES[mode] if mode is not None else 'CAPNEXT'} ends the text")
    return "".join(out)


# UTF-8 of an operator that stands for nothing: ESC (with the operator it guards, if any, which
# then stands for itself), or a bare TITLE / ALLCAPS / CAPNEXT
_OPERATOR_BYTES_RE = re.compile(rb"\xee\x80\x84(?:\xee\x80[\x81-\x84])?|\xee\x80[\x81-\x83]")


def byte_weights(data: bytes) -> np.ndarray:
    """Original bytes each byte of the UTF-8 transformed text ``data`` stands for (0 or 1, int32)."""
    w = np.ones(len(data), dtype=np.int32)
    for m in _OPERATOR_BYTES_RE.finditer(data):
        w[m.start():m.start() + 3] = 0
    return w


def is_caseops_model(sp) -> bool:
    """Does this SentencePiece model hold each of the four operators as a piece of its own?"""
    unk = sp.unk_id()
    return all(sp.PieceToId(op) != unk for op in OPERATORS)
