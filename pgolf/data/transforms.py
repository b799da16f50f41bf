"""The lossless text transforms a dataset can be built through, by their ``--transform`` name.

``caseops-v1`` is CaseOps v1 (:mod:`pgolf.data.caseops`), the transform of the April 2026
records and of the hub repo ``romeerp/parameter-golf-caseops-v1``. ``case`` is our own
(:mod:`pgolf.data.case`), not compatible with the records' data. Each text passes through the
transform before SentencePiece; the val split gets a byte sidecar (:mod:`pgolf.data.sidecar`)
from the transform's per-byte weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from pgolf.data import case, caseops
from pgolf.data.tokenizer import TrainSpec
from pgolf.errors import PgolfError


@dataclass(frozen=True)
class Transform:
    name: str  # --transform
    text_transform: str  # the manifest's tokenizer "text_transform"
    suffix: str  # of the dataset, tokenizer and model file names
    module: ModuleType  # encode, decode, byte_weights, OPERATORS
    error: type[Exception]  # what decode raises on text no original maps to
    is_model: Callable[[object], bool]  # does a SentencePiece model hold the operators?
    # how a trained tokenizer holds the operators: reserved as user-defined pieces under the
    # official settings (the record's tokenizer), or as characters BPE may merge, lossless
    reserved: bool

    def encode(self, text: str) -> str:
        return self.module.encode(text)

    def decode(self, text: str) -> str:
        return self.module.decode(text)

    def byte_weights(self, data: bytes) -> np.ndarray:
        return self.module.byte_weights(data)

    def train_spec(self, spec: TrainSpec) -> TrainSpec:
        """``spec`` made fit for this transform's tokenizer."""
        ops = list(self.module.OPERATORS)
        if self.reserved:  # ids 4, 5, ... right after pad/bos/eos/unk, never merged
            spec.extra["user_defined_symbols"] = ops
        else:
            spec.normalization_rule_name = "identity"
            spec.add_dummy_prefix = False
            spec.extra["remove_extra_whitespaces"] = False
            spec.extra["required_chars"] = "".join(ops)
        return spec


CASEOPS = Transform("caseops-v1", caseops.NAME, "lossless_caps_caseops_v1_reserved", caseops,
                    caseops.CaseOpsError, caseops.is_caseops_model, reserved=True)
CASE = Transform("case", "pgolf_case_v1", "case", case, case.CaseError, case.is_case_model, reserved=False)
TRANSFORMS = {t.name: t for t in (CASEOPS, CASE)}


def get(name: str) -> Transform:
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise PgolfError(f"unknown transform {name!r}; choose from {', '.join(TRANSFORMS)}") from None


def detect(sp) -> Transform | None:
    """The transform a tokenizer was made for, from the operators in its vocabulary.

    ``case`` holds U+E000 (CaseOps has no such operator, its tokenizer maps it to unknown).
    """
    if case.is_case_model(sp):
        return CASE
    if caseops.is_caseops_model(sp):
        return CASEOPS
    return None
