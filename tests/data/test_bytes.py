"""The byte rule on the real mini val: the counts the README states, equal to the text's UTF-8 length."""

from __future__ import annotations

import numpy as np

from pgolf.data.bytes import load_table, stream_target_bytes
from pgolf.data.docs import iter_docs
from pgolf.data.shards import load_split
from tests.conftest import MINI, MINI_DATASET, MINI_TOKENIZER


def test_mini_val_bytes_equal_utf8_length_of_the_val_docs():
    tokens = load_split(MINI_DATASET, "val", vocab_size=1024)
    nbytes = int(stream_target_bytes(tokens, load_table(MINI_TOKENIZER)).sum())
    assert len(tokens) - 1 == 1_040_059
    assert nbytes == 2_504_310
    utf8 = sum(len(t.encode("utf-8")) for t in iter_docs(MINI / "docs_selected.jsonl.xz", stop=901))
    assert nbytes == utf8


def test_rule_details():
    table = load_table(MINI_TOKENIZER)
    bos, byte_piece = 1, 3 + 1  # ids 0..3 are control/unknown; the 256 byte pieces follow
    assert table.base[bos] == 0 and table.boundary[bos]
    assert table.base[byte_piece] == 1
    spaced = int(np.flatnonzero(table.leading_space)[0])
    # a word-start piece costs one more byte, except right after a control token
    assert table.target_bytes(np.array([spaced]), np.array([spaced]))[0] == table.base[spaced] + 1
    assert table.target_bytes(np.array([bos]), np.array([spaced]))[0] == table.base[spaced]
