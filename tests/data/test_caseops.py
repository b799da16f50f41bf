"""CaseOps v1 against the record's own ``lossless_caps.py``: the transform, its inverse and its bytes."""

from __future__ import annotations

import importlib.util
import random

import numpy as np
import pytest

from pgolf.data import caseops
from pgolf.data.bytes import load_sentencepiece
from pgolf.data.caseops import ALLCAPS, CAPNEXT, ESC, TITLE
from pgolf.data.sidecar import doc_sidecar, piece_text, spans_from_pieces, spans_from_proto
from tests.conftest import MINI_TOKENIZER
from tests.reference import RECORD_1_0611

RECORD_TOKENIZER = f"{RECORD_1_0611}/tokenizers/fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model"

ADVERSARIAL = [
    "",
    "The NASA Launch",
    "Hello World! NASA's CEO said: I like iPhone and McDonald's. ABCdef abcDEF aBc X",
    "ÉCOLE école Ⱥⱥ naïve Ünïcödé STRASSE ß ẞ İstanbul ΣΊΣΥΦΟΣ Ωmega ǅungla \u212a",
    "A1B2 COVID19 x2Y __INIT__ snake_Case CamelCaseWord 3rd 4TH",
    "😀X 👍🏽 中文ABC ﬁ ﬀ Ⅻ ⅻ",
    "literal operators \ue001\ue002\ue003\ue004 and \ue000 \ue005; \ue004\ue004 A\ue001B \ue003x",
    "  leading and trailing  \n\n\tTabs\r\nCRLF  ",
    "I", "A", "AB", "Ab", "aB", "ab", "\ue004", "\u2581 \u2581X",
]


@pytest.fixture(scope="module")
def oracle(reference_root):
    """The record's ``lossless_caps.py`` (CaseOps v1 is its ``encode_lossless_caps_v2``)."""
    spec = importlib.util.spec_from_file_location("record_lossless_caps", reference_root / RECORD_1_0611 / "lossless_caps.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def record_sp(reference_root):
    return load_sentencepiece(reference_root / RECORD_TOKENIZER)


def _oracle_decode(oracle, text):
    try:
        return oracle.decode_lossless_caps_v2(text)
    except oracle.LosslessCapsError:
        return None


def _decode(text):
    try:
        return caseops.decode(text)
    except caseops.CaseOpsError:
        return None


def test_the_definition_on_examples():
    assert caseops.encode("The NASA Launch") == f"{TITLE}the {ALLCAPS}nasa {TITLE}launch"
    assert caseops.encode("iPhone McDonald I") == f"i{CAPNEXT}phone {TITLE}mc{CAPNEXT}donald {TITLE}i"
    # words are ASCII-letter runs: "É" and digits end them
    assert caseops.encode("ÉCOLE x2Y") == f"É{ALLCAPS}cole x2{TITLE}y"
    assert caseops.encode("a\ue001b") == f"a{ESC}\ue001b"


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_agrees_with_the_record_on_adversarial_text(oracle, text):
    t = caseops.encode(text)
    assert t == oracle.encode_lossless_caps_v2(text)
    assert caseops.decode(t) == text == oracle.decode_lossless_caps_v2(t)
    assert int(caseops.byte_weights(t.encode("utf-8")).sum()) == len(text.encode("utf-8"))


def test_agrees_with_the_record_on_random_text(oracle):
    """Random strings over letters, operators and their neighbours; decoding arbitrary (often
    malformed) strings gives the same text or the same refusal as the record's decoder."""
    rng = random.Random(0)
    alphabet = list("aAbBzZ 1_'\n.") + ["É", "é", "ß", "😀", "中", "\ue000", TITLE, ALLCAPS, CAPNEXT, ESC, "\ue005"]
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10)))
        t = caseops.encode(text)
        assert t == oracle.encode_lossless_caps_v2(text), repr(text)
        assert caseops.decode(t) == text, repr(text)
        assert _decode(text) == _oracle_decode(oracle, text), repr(text)


@pytest.mark.parametrize("bad", [TITLE, ALLCAPS + "1", "a" + TITLE + "b", CAPNEXT + CAPNEXT + "a", ESC,
                                 TITLE + " a", ALLCAPS + ESC + "\ue001", CAPNEXT])
def test_malformed_text_is_refused_as_the_record_refuses_it(oracle, bad):
    with pytest.raises(caseops.CaseOpsError):
        caseops.decode(bad)
    assert _oracle_decode(oracle, bad) is None


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_sidecar_agrees_with_the_records_exporter(oracle, record_sp, text):
    """Per-token original bytes: ours against the record's ``surface_piece_original_byte_counts``
    over SentencePiece's own surfaces (what ``prepare_caseops_data.py`` writes)."""
    t = caseops.encode(text)
    ids, begins, ends = spans_from_proto(record_sp, t)
    data = t.encode("utf-8")
    surfaces = [data[b:e].decode("utf-8") for b, e in zip(begins, ends)]
    want = oracle.surface_piece_original_byte_counts(surfaces, text_transform_name=oracle.LOSSLESS_CAPS_CASEOPS_V1)
    ours = doc_sidecar(record_sp, piece_text(record_sp), t, ids, record_sp.decode(ids), caseops.byte_weights)
    assert ours[0] == 0 and ours[1:].tolist() == list(want)


@pytest.mark.parametrize("which", ["record", "sp1024"])
def test_spans_from_pieces_are_sentencepieces_alignment(reference_root, which):
    """Where the tokens spell the text back, the spans follow from the pieces alone: each piece its
    own text, a byte-fallback character on its last byte piece."""
    sp = load_sentencepiece(reference_root / RECORD_TOKENIZER if which == "record" else MINI_TOKENIZER)
    pieces = piece_text(sp)
    texts = [caseops.encode(t) for t in ADVERSARIAL] + ["\x01\x02 ☃☃ 𝔘𝔫𝔦 ꙮ x", "a b", "one\u3000two"]
    checked = 0
    for text in texts:
        ids, begins, ends = spans_from_proto(sp, text)
        if sp.decode(ids) != text:  # normalisation changed it: the slow path's case
            continue
        b, e = spans_from_pieces(np.asarray(ids), pieces)
        assert b.tolist() == begins.tolist() and e.tolist() == ends.tolist(), repr(text)
        checked += 1
    assert checked >= len(texts) // 2
    assert any(sp.IsByte(i) for t in texts for i in sp.encode(t))  # byte fallback was exercised
