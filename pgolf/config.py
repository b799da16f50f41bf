"""The one Config of a run: every knob, its presets, and key=value / environment overrides.

Field names are the lower-case names of the official `train_gpt.py` environment variables
where one exists (``NUM_LAYERS`` -> ``num_layers``). Nothing else in the package reads the
environment: ``cli.py`` and the packed file's entry map ``os.environ`` onto a Config with
:func:`env_overrides`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from pgolf.errors import PgolfError


@dataclass
class Config:
    # ---- run and data -------------------------------------------------------------------
    run_id: str = ""  # empty: a time stamp is chosen at start
    seed: int = 1337
    data_path: str = "data/datasets/fineweb10B_sp1024"
    tokenizer_path: str = "data/tokenizers/fineweb_1024_bpe.model"
    out_dir: str = "runs"

    # ---- model shape ----------------------------------------------------------------------
    vocab_size: int = 1024
    num_layers: int = 9
    model_dim: int = 512
    num_heads: int = 8
    num_kv_heads: int = 4
    mlp_mult: float = 2.0
    tie_embeddings: bool = True
    rope_base: float = 10000.0
    logit_softcap: float = 30.0
    qk_gain_init: float = 1.5
    tied_embed_init_std: float = 0.005

    # ---- batch and clock -------------------------------------------------------------------
    iterations: int = 20000
    train_seq_len: int = 1024
    train_batch_tokens: int = 524288  # global, per optimizer step
    grad_accum_total: int = 8  # micro-batches per step summed over ranks (8 // world each)
    max_wallclock_seconds: float = 600.0  # 0 = no clock, run all iterations
    warmup_steps: int = 20  # compile warm-up steps on training data, then weights reset
    warmdown_iters: int = 1200
    val_loss_every: int = 1000  # 0 = only at the end
    val_batch_size: int = 524288  # tokens per eval forward batch, global
    train_log_every: int = 200

    # ---- optimizer -----------------------------------------------------------------------
    embed_lr: float = 0.6
    head_lr: float = 0.008
    tied_embed_lr: float = 0.05
    matrix_lr: float = 0.04
    scalar_lr: float = 0.04
    muon_momentum: float = 0.95
    muon_backend_steps: int = 5
    muon_momentum_warmup_start: float = 0.85
    muon_momentum_warmup_steps: int = 500
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float = 1e-8
    grad_clip_norm: float = 0.0

    # ---- systems ---------------------------------------------------------------------------
    device: str = "auto"  # auto | cpu | cuda
    compile: str = "auto"  # auto (on CUDA) | on | off
    eval_seq_len: int = 0  # 0 = train_seq_len

    # ---- export ----------------------------------------------------------------------------
    quant_scheme: str = "int8_zlib"  # the baseline's per-row int8 + zlib-9
    allow_over_cap: bool = False

    # ---- issue 5: eval strategies and score-first TTT (defaults = the baseline's eval) ------
    eval_stride: int = 0  # 0 = the eval window: non-overlapping; < window: sliding windows
    eval_doc_aware: bool = False  # context never crosses a BOS
    ttt_enabled: bool = False  # score-first test-time training at eval
    ttt_lora_rank: int = 8  # per-document LoRA adapters on every Linear; 0 = none
    ttt_lora_lr: float = 0.003  # Adam
    ttt_chunk_tokens: int = 128  # targets scored per chunk before the adapter learns from them
    ttt_steps: int = 1  # adapter steps per scored chunk
    ttt_batch_docs: int = 64  # documents adapted in parallel (one adapter each)
    ttt_global_lr: float = 0.0  # > 0: global SGD phases on already-scored documents
    ttt_phase_docs: int = 2000  # documents scored between global phases
    ttt_global_epochs: int = 1  # passes over a phase's documents

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise PgolfError(f"config: unknown field(s) {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> "Config":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise PgolfError(f"{path}: cannot read config ({e})") from None

    def replace(self, **kw: Any) -> "Config":
        return apply_overrides(self, kw)

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads


# ---- presets ------------------------------------------------------------------------------
# Each preset is a dict of differences from the Config defaults (= the official 8xH100 baseline).
PRESETS: dict[str, dict[str, Any]] = {
    "baseline": {},
    # Small enough that `make demo` trains, exports and evaluates on 2 CPU cores in minutes.
    "cpu-demo": dict(
        num_layers=4,
        model_dim=128,
        num_heads=4,
        num_kv_heads=2,
        train_seq_len=256,
        train_batch_tokens=8192,
        grad_accum_total=1,
        iterations=100000,
        max_wallclock_seconds=180.0,
        warmup_steps=0,
        warmdown_iters=150,
        val_loss_every=0,
        val_batch_size=4096,
        train_log_every=25,
        muon_momentum_warmup_steps=50,
        compile="off",
    ),
    # Seconds, not minutes: the CLI end-to-end tests and quick smoke runs.
    "tiny": dict(
        num_layers=2,
        model_dim=32,
        num_heads=2,
        num_kv_heads=1,
        train_seq_len=64,
        train_batch_tokens=1024,
        grad_accum_total=2,
        iterations=6,
        max_wallclock_seconds=0.0,
        warmup_steps=0,
        warmdown_iters=3,
        val_loss_every=0,
        val_batch_size=4096,
        train_log_every=1,
        muon_momentum_warmup_steps=3,
        compile="off",
    ),
}

# `--smoke` shrinks any preset to these sizes (features keep their settings).
SMOKE: dict[str, Any] = {k: PRESETS["tiny"][k] for k in (
    "num_layers", "model_dim", "num_heads", "num_kv_heads", "train_seq_len", "train_batch_tokens",
    "grad_accum_total", "iterations", "max_wallclock_seconds", "warmup_steps", "warmdown_iters",
    "val_loss_every", "val_batch_size", "train_log_every", "muon_momentum_warmup_steps",
)}


def _coerce(name: str, typ: Any, value: Any) -> Any:
    """Turn a string (from key=value or the environment) into the field's type."""
    if not isinstance(value, str):
        return value
    t = typ if isinstance(typ, type) else {"int": int, "float": float, "bool": bool, "str": str}.get(str(typ), str)
    try:
        if t is bool:
            low = value.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(value)
        if t is int:
            return int(float(value)) if value.strip().lower().count("e") else int(value)
        return t(value)
    except ValueError:
        raise PgolfError(f"config: {name}={value!r} is not a valid {t.__name__}") from None


def apply_overrides(cfg: Config, overrides: dict[str, Any]) -> Config:
    """A new Config with ``overrides`` applied; strings are converted to each field's type."""
    by_name = {f.name: f for f in fields(Config)}
    clean = {}
    for k, v in overrides.items():
        if k not in by_name:
            close = [n for n in by_name if k in n or n in k]
            hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
            raise PgolfError(f"config: unknown field {k!r}{hint}")
        clean[k] = _coerce(k, by_name[k].type, v)
    return dataclasses.replace(cfg, **clean)


def parse_kv(items: list[str]) -> dict[str, str]:
    """``["num_layers=4", "seed=1"]`` -> dict; a malformed item is a one-line error."""
    out = {}
    for item in items:
        if "=" not in item:
            raise PgolfError(f"override {item!r} is not key=value")
        k, v = item.split("=", 1)
        out[k.strip().lower()] = v
    return out


def env_overrides(environ: dict[str, str]) -> dict[str, str]:
    """Official environment variables (``NUM_LAYERS=...``) that name a Config field."""
    names = {f.name.upper(): f.name for f in fields(Config)}
    return {names[k]: v for k, v in environ.items() if k in names}


def load_config(preset: str = "baseline", smoke: bool = False, **overrides: Any) -> Config:
    """The public entry: a preset, optionally shrunk by ``smoke``, then field overrides."""
    if preset not in PRESETS:
        raise PgolfError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    cfg = apply_overrides(Config(), PRESETS[preset])
    if smoke:
        cfg = apply_overrides(cfg, SMOKE)
    return apply_overrides(cfg, overrides)
