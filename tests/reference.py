"""The official Parameter Golf files (../shared/reference) as test oracles.

The archive is unpacked once per test session into a temporary folder; record scripts are
imported on CPU through the archive's own ``load_reference.py`` (FlashAttention-3 replaced by
SDPA, Triton by a no-op, ``torch.compile`` off while the module loads).
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_REFERENCE = (REPO / ".." / "shared" / "reference").resolve()
RECORDS = "records/track_10min_16mb"
RECORD_1_0611 = f"{RECORDS}/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611"


def loader():
    """The ``load_reference`` module that ships beside the archive."""
    if "load_reference" in sys.modules:
        return sys.modules["load_reference"]
    path = SHARED_REFERENCE / "load_reference.py"
    assert path.is_file(), f"the reference files are missing at {SHARED_REFERENCE}"
    spec = importlib.util.spec_from_file_location("load_reference", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["load_reference"] = mod
    spec.loader.exec_module(mod)
    return mod


_ROOT: list[Path] = []


def set_root(path: Path) -> None:
    """Called once by the session fixture with the folder the archive was unpacked into."""
    _ROOT[:] = [path]


def root() -> Path:
    """The unpacked archive: README.md, train_gpt.py, data/, records/track_10min_16mb/..."""
    if not _ROOT:  # used outside pytest's fixture (a script): the loader's own cache
        _ROOT.append(loader().extract())
    return _ROOT[0]


@lru_cache(maxsize=None)
def load_script(relpath: str):
    """Import one official train_gpt.py (relative to the archive root), cached per session."""
    name = "ref_" + "".join(c if c.isalnum() else "_" for c in relpath)
    return loader().load_script(root() / relpath, name=name)


def record_script():
    """The 1.0611 record's train_gpt.py, imported on CPU."""
    return load_script(f"{RECORD_1_0611}/train_gpt.py")


def baseline_script():
    """The official root train_gpt.py (the naive baseline), imported on CPU."""
    return load_script("train_gpt.py")


def record_quant_result(qstate: dict) -> tuple[dict, dict]:
    """Our quantized tensors (``pgolf.quant``'s QTensors) as the 1.0611 record's ``(result, meta)``
    dicts, the input of its ``_serialize_pergroup`` / ``dequantize_mixed``: int-k matrices as
    ``<name>.q`` / ``.scale``, int8 gates as ``.gq`` / ``.gs``, LQER factors as ``.lqA_a`` ... (asym)
    or ``.lqA`` ... (per-row), passthrough tensors under their own name."""
    import torch

    t = lambda a: torch.from_numpy(a.copy())  # noqa: E731
    result, meta = {}, {}
    for name, x in qstate.items():
        if name.endswith((".lqer_a", ".lqer_b")):
            continue
        if x.kind in ("fp16", "fp32", "raw"):
            result[name], meta[name] = t(x.data), "passthrough (float16)"
        elif x.bits == 8 and x.data.size <= 8192:
            result[name + ".gq"], result[name + ".gs"], meta[name] = t(x.data), t(x.scale), "gate_int8_row"
        else:
            result[name + ".q"], result[name + ".scale"] = t(x.data), t(x.scale)
            meta[name] = f"gptq (int{x.bits})"
            if name + ".lqer_a" in qstate:
                a, b = qstate[name + ".lqer_a"], qstate[name + ".lqer_b"]
                sfx = "_a" if a.kind == "intk_groups" else ""
                result.update({name + ".lqA" + sfx: t(a.data), name + ".lqAs" + sfx: t(a.scale).reshape(()) if sfx else t(a.scale),
                               name + ".lqB" + sfx: t(b.data), name + ".lqBs" + sfx: t(b.scale)})
                meta[name] += "+lqer_asym" if sfx else "+lqer"
    return result, meta
