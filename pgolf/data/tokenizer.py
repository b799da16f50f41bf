"""SentencePiece tokenizers: train one with the challenge's settings, load one, describe one.

The official sp1024 tokenizer is a SentencePiece BPE model trained on the TRAIN documents with
byte fallback, split digits, ``nmt_nfkc`` normalisation, no dummy prefix, ids pad/bos/eos/unk =
0/1/2/3 and character coverage 0.999 (its own trainer spec says so, and also that the vocab size
was a soft limit). :class:`TrainSpec` holds those settings; ``model_type="unigram"`` and a
``transform`` (a function applied to every training text, for a later text-transform tokenizer)
are the hooks for other tokenizers.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgolf.data.bytes import load_sentencepiece
from pgolf.io import atomic_write
from pgolf.errors import PgolfError

# The special ids the tokenizer is trained with. BOS_ID is the one source of the BOS id: every
# document of a shard starts with it (the export never writes EOS), the data's manifest records
# it and the Config carries it (``bos_id``) to the model, the loaders and eval.
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
MODEL_TYPES = ("bpe", "unigram")
# SentencePiece's TrainerSpec.model_type enum values (sentencepiece_model.proto).
_MODEL_TYPE_NAMES = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}


@dataclass
class TrainSpec:
    """Everything that decides the trained model; defaults are the official sp1024 settings."""

    vocab_size: int = 1024
    model_type: str = "bpe"
    character_coverage: float = 0.999
    byte_fallback: bool = True
    split_digits: bool = True
    normalization_rule_name: str = "nmt_nfkc"
    add_dummy_prefix: bool = False
    hard_vocab_limit: bool = False
    num_threads: int | None = None  # None: every core
    # Left at SentencePiece's defaults by the official run (documents longer than
    # max_sentence_length bytes are skipped for training, not truncated).
    max_sentence_length: int | None = None
    input_sentence_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # any other trainer option

    def trainer_kwargs(self) -> dict[str, Any]:
        if self.model_type not in MODEL_TYPES:
            raise PgolfError(f"tokenizer: model type {self.model_type!r} not supported; "
                             f"choose from {', '.join(MODEL_TYPES)}")
        if not 8 < self.vocab_size <= 65536:
            raise PgolfError(f"tokenizer: vocab size {self.vocab_size} must be in 9..65536 "
                             "(shards store uint16 tokens)")
        kw: dict[str, Any] = dict(
            model_type=self.model_type,
            vocab_size=self.vocab_size,
            character_coverage=self.character_coverage,
            byte_fallback=self.byte_fallback,
            split_digits=self.split_digits,
            normalization_rule_name=self.normalization_rule_name,
            add_dummy_prefix=self.add_dummy_prefix,
            hard_vocab_limit=self.hard_vocab_limit,
            pad_id=PAD_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            unk_id=UNK_ID,
            num_threads=self.num_threads or os.cpu_count() or 1,
        )
        if self.max_sentence_length is not None:
            kw["max_sentence_length"] = self.max_sentence_length
        if self.input_sentence_size is not None:
            kw["input_sentence_size"] = self.input_sentence_size
        kw.update(self.extra)
        return kw


def model_filename(spec: TrainSpec) -> str:
    """The official naming: ``fineweb_1024_bpe.model``."""
    return f"fineweb_{spec.vocab_size}_{spec.model_type}.model"


def train_model_proto(texts: Iterable[str], spec: TrainSpec,
                      transform: Callable[[str], str] | None = None, verbose: bool = False) -> bytes:
    """Train on ``texts`` (the TRAIN documents only) and return the serialized model."""
    import sentencepiece as spm

    count = 0

    def sentences() -> Iterator[str]:
        nonlocal count
        for text in texts:
            count += 1
            yield transform(text) if transform else text

    out = io.BytesIO()
    kwargs = spec.trainer_kwargs()
    if not verbose:
        kwargs.setdefault("minloglevel", 2)
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=sentences(), model_writer=out, **kwargs)
    except RuntimeError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PgolfError(f"tokenizer training failed on {count} documents: {msg}") from None
    if not out.getvalue():
        raise PgolfError(f"tokenizer training produced no model ({count} documents)")
    return out.getvalue()


def train(texts: Iterable[str], out_path: str | Path, spec: TrainSpec,
          transform: Callable[[str], str] | None = None, verbose: bool = False) -> Path:
    """Train a model and write it to ``out_path`` (atomically). Returns the path."""
    proto = train_model_proto(texts, spec, transform=transform, verbose=verbose)
    out_path = Path(out_path)
    atomic_write(out_path, proto)
    return out_path


def load(model_path: str | Path):
    """A ``SentencePieceProcessor``; a one-line error when the file is missing or not a model."""
    return load_sentencepiece(model_path)


# ---- describing a model -------------------------------------------------------------------
# The model file is a protobuf (ModelProto). The Python protobuf package is not a dependency,
# so the few fields we report are read with a minimal wire-format reader.

def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def proto_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of one protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = buf[i:i + 4], i + 4
        elif wire == 1:
            value, i = buf[i:i + 8], i + 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield num, value


def model_type(sp) -> str:
    """``"bpe"``, ``"unigram"``, ... as recorded in the model's trainer spec."""
    try:
        for num, value in proto_fields(sp.serialized_model_proto()):
            if num == 2 and isinstance(value, bytes):  # ModelProto.trainer_spec
                for sub, v in proto_fields(value):
                    if sub == 3 and isinstance(v, int):  # TrainerSpec.model_type
                        return _MODEL_TYPE_NAMES.get(v, "unknown")
    except ValueError:
        return "unknown"
    return "unigram"  # the proto default


def describe(sp) -> dict[str, Any]:
    """Facts a manifest records about a loaded model."""
    return {
        "kind": "sentencepiece",
        "model_type": model_type(sp),
        "vocab_size": int(sp.GetPieceSize()),
        "bos_id": int(sp.bos_id()),
        "eos_id": int(sp.eos_id()),
    }
