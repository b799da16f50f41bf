"""The one Config of a run: every knob, its presets, and key=value / environment overrides.

Field names are the lower-case names of the official `train_gpt.py` environment variables
where one exists (``NUM_LAYERS`` -> ``num_layers``). Nothing else in the package reads the
environment: ``cli.py`` and the packed file's entry map ``os.environ`` onto a Config with
:func:`env_overrides`.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from pgolf.config_checks import problems
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
    # False: the clock is the budget (official): it ends the run and paces the warm-down.
    # True: `iterations` ends the run and paces the schedule; the clock only stops an overrun.
    wallclock_guard: bool = False
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
    device: Literal["auto", "cpu", "cuda"] = "auto"
    compile: Literal["auto", "on", "off"] = "auto"  # auto: on CUDA
    tracker: Literal["none", "tensorboard", "wandb"] = "none"  # mirror metrics.jsonl, config and summary
    wandb_mode: Literal["offline", "online"] = "offline"  # offline: no network
    wandb_project: str = "pgolf"
    eval_seq_len: int = 0  # 0 = train_seq_len

    # ---- export ----------------------------------------------------------------------------
    quant_scheme: Literal["int8_zlib", "rtn", "gptq"] = "int8_zlib"  # int8_zlib: the baseline's per-row int8 + zlib-9
    allow_over_cap: bool = False

    # quant_scheme rtn | gptq: per-row int-k symbols in the v2 container (int8_zlib stays the
    # baseline export). Clip = clip_sigmas * row std (0: the quant_clip_quantile of |w|), by role:
    # a role's clip of 0 takes quant_clip_sigmas (docs/compression.md).
    quant_bits: int = 6  # every matrix but the embedding
    quant_embed_bits: int = 8  # tok_emb / lm_head
    quant_clip_sigmas: float = 12.85
    quant_attn_clip_sigmas: float = 0.0  # .attn. matrices
    quant_mlp_clip_sigmas: float = 0.0  # .mlp. matrices
    quant_embed_clip_sigmas: float = 0.0  # tok_emb / lm_head
    quant_clip_quantile: float = 0.9999984
    quant_rules: str = ""  # per-tensor "pattern=bits[@clip_sigmas];..." (first match wins)
    quant_keep_float_numel: int = 65536  # tensors this small pass through as fp16 / fp32
    quant_passthrough: Literal["mixed", "fp16"] = "mixed"  # mixed: control tensors fp32, the rest fp16
    quant_gate_int8: bool = False  # attention-gate weights as int8 rows instead of passthrough
    gptq_reserve_seconds: float = 8.0  # taken from max_wallclock_seconds for calibration
    gptq_reserve_auto: bool = False  # measure: reserve = the above + margin * batches * one batch
    gptq_reserve_margin: float = 1.25
    gptq_calib_batches: int = 16  # calibration batches of training data (per-rank micro-batch size)
    gptq_calib_source: Literal["loader", "random"] = "loader"  # the next training batches | random windows
    gptq_block_size: int = 128
    gptq_damp: float = 0.01
    gptq_act_order: bool = True
    lqer_rank: int = 0  # 0 = off
    lqer_top_k: int = 4  # tensors with the largest quantization error get a correction
    lqer_bits: int = 8  # per-row factor bits (sym, and asym's fallback)
    lqer_mode: Literal["sym", "asym"] = "sym"  # Hessian-weighted int-k rows | A int2 per matrix, B int4 groups
    lqer_group: int = 64  # asym: values of B per scale
    artifact_codecs: str = "zlib,lzma,zstd,brotli"  # each group takes the smallest (lrzip: ZPAQ)
    artifact_group_by: Literal["role", "module"] = "role"  # emb / attn / mlp | one group per weight across layers
    artifact_transpose: bool = False  # store int matrices column by column
    artifact_row_order: Literal["none", "scale", "l1"] = "none"  # l1: greedy nearest row by L1 distance
    artifact_row_order_names: str = ""  # comma list of name substrings it applies to ("": all)

    # ---- record-class model (docs/record.md) --------------------------------------------------
    # Every default below is "off" and keeps the official baseline's model.
    # shape
    mlp_act: Literal["relu2", "leaky_relu2"] = "relu2"
    mlp_leaky_slope: float = 0.5
    loop_start: int = 0  # depth recurrence: layers [loop_start, loop_end) run loop_extra more times
    loop_end: int = 0  # exclusive (the record's log prints the last looped layer: loop_end - 1)
    loop_extra: int = 0  # 0 = off
    loop_enable_frac: float = 0.0  # training fraction at which the loop switches on (always on at eval)
    parallel_from: int = -1  # -1 = off; decoder layers from this one on run attention and MLP in two lanes
    unet_skip_gates: bool = False  # each U-Net skip interpolates: x <- lerp(w * skip, x, sigmoid(g))
    ln_scale: bool = False  # scale each block's normed input by 1/sqrt(layer+1)
    orthogonal_init: bool = False  # orthogonal Q, K, V and MLP up-projections (baseline: PyTorch default)
    embed_bf16: bool = False  # on CUDA the token embedding is stored in bf16 (so the residual stream is bf16)
    # attention
    rope_dims: int = 0  # 0 = rotate the whole head; r = rotate only the first r dims
    xsa_last_n: int = 0  # XSA on the last n layers (0 = off)
    attn_gate: bool = False  # per-head output gate sigmoid(attn_gate_scale * W x[:gate_window]), W = 0 at init
    attn_gate_scale: float = 0.5
    gate_window: int = 12  # residual dims read by the attention gate and the SmearGate
    doc_isolation: bool = False  # no attention across a BOS boundary
    bos_id: int = 1  # the tokenizer's (data/tokenizer.py BOS_ID), as the data's manifest records it
    attn_window: int = 0  # sliding attention window in tokens (0 = full causal)
    attn_backend: Literal["auto", "sdpa", "flex", "varlen"] = "auto"  # see model/masks.py
    # token mixing
    smear_gate: bool = False  # x_t += lam * sigmoid(W x_t[:gate_window]) * x_{t-1}, never across a BOS
    bigram_buckets: int = 0  # BigramHash table rows (0 = off)
    bigram_dim: int = 128
    value_embed_last_n: int = 0  # value embeddings added to v in the last n layers (0 = off)
    # ---- record-class training stack ---------------------------------------------------------
    # optimizer and schedule
    muon_coeffs: Literal["baseline", "polar_express"] = "baseline"  # fixed quintic | per-step
    muon_row_norm: bool = False  # scale every row of the Nesterov update to unit norm before Newton-Schulz
    muon_weight_decay: float = 0.0  # decoupled: p *= 1 - lr * wd (matrices)
    adam_weight_decay: float = 0.0  # AdamW's decoupled decay on the scalars and an untied head
    embed_weight_decay: float = 0.0  # AdamW's decoupled decay on the embedding tables
    lr_schedule: Literal["baseline", "fraction"] = "baseline"  # warmdown_iters | warmdown_frac of training
    warmdown_frac: float = 0.0
    min_lr_frac: float = 0.0  # the LR multiplier never goes below this (a clamp, either schedule)
    grad_clip_scope: Literal["global", "rank"] = "global"  # the averaged gradient | each rank's own, before averaging
    ema_decay: float = 0.0  # EMA of the weights, used for the final eval and export (0 = off)
    compile_fullgraph: bool = False
    train_loader: Literal["stream", "bos_aligned", "packed"] = "stream"  # see data/loader.py

    # ---- eval strategies and phased score-first TTT (docs/eval.md) ---------------------------
    # Defaults: the baseline's eval; the TTT values are the 1.0611 record's (used with ttt_enabled).
    eval_stride: int = 0  # 0 = the eval window: non-overlapping; < window: sliding windows
    eval_doc_aware: bool = False  # context never crosses a BOS (packed rows on a doc-isolated model)
    ttt_enabled: bool = False  # phased score-first test-time training at eval (always document-aware)
    ttt_lora_rank: int = 80  # per-document LoRA on Q, K, V, O, MLP of every virtual layer and the head; 0 = none
    ttt_lora_alpha: float = 144.0  # adapter output scale alpha / rank
    ttt_lora_lr: float = 1e-4  # AdamW
    ttt_beta1: float = 0.0
    ttt_beta2: float = 0.99
    ttt_weight_decay: float = 0.5  # AdamW's decoupled decay on the adapters
    ttt_chunk_tokens: int = 48  # targets of a document scored per forward, then learnt from
    ttt_steps: int = 1  # adapter steps per scored chunk
    ttt_batch_docs: int = 64  # documents per batch (one adapter each), sorted by length
    ttt_chains: int = 8  # adapter A's carry over from batch to batch along this many chains (a multiple of the ranks)
    ttt_prefix_docs: int = 2500  # global SGD phases train on up to this many scored documents; 0 = none
    ttt_phases: int = 3  # global phases, evenly spread over the prefix, cumulative
    ttt_global_lr: float = 1e-3  # SGD, cosine over the phase's chunks; 0 = no global phases
    ttt_global_momentum: float = 0.9
    ttt_global_epochs: int = 1  # passes over each chunk
    ttt_global_chunk_tokens: int = 32768  # tokens per learning-rate step of a phase
    ttt_global_batch_seqs: int = 32  # eval windows per SGD step
    ttt_global_grad_clip: float = 1.0  # 0 = off

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
            cfg = cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise PgolfError(f"{path}: cannot read config ({e})") from None
        return validate(cfg)

    def replace(self, **kw: Any) -> "Config":
        return apply_overrides(self, kw)

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.num_heads


# Fields that vary from one run of a recipe to the next by design: which seed ran, where its
# files went, where that machine keeps the data. They are not part of the recipe: the packed
# train_gpt.py takes them from the environment (SEED, RUN_ID, OUT_DIR, DATA_PATH, TOKENIZER_PATH)
# with stated defaults, and submit compares the runs of one entry without them.
RUN_FIELDS = ("seed", "run_id", "out_dir", "data_path", "tokenizer_path")


def recipe_of(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without its per-run fields (:data:`RUN_FIELDS`)."""
    return {k: v for k, v in config.items() if k not in RUN_FIELDS}


# Where the official layout keeps the data and the tokenizer, relative to the working folder.
RELATIVE_DIRS = {"data_path": "data/datasets", "tokenizer_path": "data/tokenizers"}


def portable(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` as a file handed to other machines states it: the data and the tokenizer by
    their names under the official relative folders (no local paths), ``run_id`` and ``out_dir``
    at their defaults. The seed stays: score-first TTT draws its adapters from it."""
    base = Config().to_dict()
    out = dict(config, run_id=base["run_id"], out_dir=base["out_dir"])
    for key, folder in RELATIVE_DIRS.items():
        out[key] = f"{folder}/{Path(config[key]).name}"
    return out


# The string fields with a fixed set of values, from their Literal types: field -> the values.
CHOICES: dict[str, tuple[str, ...]] = {
    name: get_args(t) for name, t in get_type_hints(Config).items() if get_origin(t) is Literal
}


# ---- presets ------------------------------------------------------------------------------
DEMO_STEPS = 300  # cpu-demo: a fixed amount of work, about what 180 s allowed on 2 idle CPU cores
# Each preset is a dict of differences from the Config defaults (= the official 8xH100 baseline).
PRESETS: dict[str, dict[str, Any]] = {
    "baseline": {},
    # Small enough that `make demo` trains, exports and evaluates on 2 CPU cores in minutes. A
    # fixed number of steps, so the score is the same on any machine; the clock is a guard.
    "cpu-demo": dict(
        num_layers=4,
        model_dim=128,
        num_heads=4,
        num_kv_heads=2,
        train_seq_len=256,
        train_batch_tokens=8192,
        # four micro-batches of 2,048 tokens: the logits of one (8 MB) stay in cache, and a step
        # took 0.85x the time of one 8,192-token batch on 2 CPU cores
        grad_accum_total=4,
        iterations=DEMO_STEPS,
        max_wallclock_seconds=1800.0,
        wallclock_guard=True,
        warmup_steps=0,
        warmdown_iters=150,
        val_loss_every=0,
        val_batch_size=4096,
        train_log_every=25,
        muon_momentum_warmup_steps=50,
        compile="off",
        # three of the record's choices that help at this size for free (measured at 300 steps of
        # one 8,192-token batch, on the whole mini val: 2.3543 without them, 2.3310 with them;
        # ln_scale and 200 warm-down steps on top: 2.3342)
        mlp_act="leaky_relu2", muon_coeffs="polar_express", muon_row_norm=True,
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
    # The 2026-04-27 record (1.0611 BPB), read from the hyperparameter dump of its train_seed42.log
    # (docs/record.md): its CaseOps sp8192 data, batch and model.
    "record": dict(
        # data and batch: CaseOps sp8192, 786,432 tokens of 2,048-token sequences per step
        vocab_size=8192,
        data_path="data/datasets/fineweb10B_sp8192_lossless_caps_caseops_v1_reserved",
        tokenizer_path="data/tokenizers/fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model",
        train_seq_len=2048, eval_seq_len=2048, train_batch_tokens=786432, val_loss_every=0,
        train_log_every=500,
        # shape: 11 x 512, MLP 4x LeakyReLU(0.5)^2, layers 3-5 looped twice (17 virtual), lanes from 8
        num_layers=11, mlp_mult=4.0, mlp_act="leaky_relu2", mlp_leaky_slope=0.5,
        loop_start=3, loop_end=6, loop_extra=2, loop_enable_frac=0.35,
        parallel_from=8, unet_skip_gates=True, ln_scale=True, orthogonal_init=True, embed_bf16=True,
        # attention and token mixing
        rope_dims=16, xsa_last_n=11, qk_gain_init=5.0, attn_gate=True, attn_gate_scale=0.5, gate_window=12,
        doc_isolation=True, smear_gate=True,
        # loader, clock, optimizer, schedule, EMA, compile (the log's hyperparameter dump)
        train_loader="packed", gptq_reserve_seconds=0.5,
        tied_embed_lr=0.03, matrix_lr=0.026, scalar_lr=0.02, beta2=0.99,
        muon_momentum=0.97, muon_momentum_warmup_start=0.92, muon_momentum_warmup_steps=1500,
        muon_coeffs="polar_express", muon_row_norm=True, muon_weight_decay=0.095,
        adam_weight_decay=0.02, embed_weight_decay=0.085,
        lr_schedule="fraction", warmdown_frac=0.85, min_lr_frac=0.1, ema_decay=0.9965,
        grad_clip_norm=0.3, grad_clip_scope="rank", compile_fullgraph=True,
        # export: GPTQ int6 (attention 13.0 sigma, MLP 11.5), the tied embedding GPTQ int7 at 14.0 sigma,
        # int8 gates, fp16 passthrough; rank-4 asymmetric LQER on the 3 worst; 16 batches of random
        # train windows within a measured reserve; per-module groups, transposed, L1-sorted rows, ZPAQ
        quant_scheme="gptq", quant_bits=6, quant_embed_bits=7, quant_clip_sigmas=12.85,
        quant_attn_clip_sigmas=13.0, quant_mlp_clip_sigmas=11.5, quant_embed_clip_sigmas=14.0,
        quant_passthrough="fp16", quant_gate_int8=True,
        gptq_calib_batches=16, gptq_calib_source="random", gptq_reserve_auto=True,
        lqer_rank=4, lqer_top_k=3, lqer_bits=4, lqer_mode="asym", lqer_group=64,
        artifact_codecs="lrzip,brotli", artifact_group_by="module", artifact_transpose=True,
        artifact_row_order="l1", artifact_row_order_names="tok_emb,attn.c_q,mlp.fc",
        # eval: document-aware windows of 2,048 (eval_seq_len), then phased score-first TTT: LoRA
        # rank 80 (alpha 144) per document, AdamW, chunks of 48, 64 documents a batch, 8 chains (its
        # 8 GPUs); 3 cumulative global SGD phases over the first 2,500 documents
        eval_doc_aware=True, ttt_enabled=True,
        ttt_lora_rank=80, ttt_lora_alpha=144.0, ttt_lora_lr=1e-4, ttt_beta1=0.0, ttt_beta2=0.99,
        ttt_weight_decay=0.5, ttt_chunk_tokens=48, ttt_steps=1, ttt_batch_docs=64, ttt_chains=8,
        ttt_prefix_docs=2500, ttt_phases=3, ttt_global_lr=1e-3, ttt_global_momentum=0.9, ttt_global_epochs=1,
        ttt_global_chunk_tokens=32768, ttt_global_batch_seqs=32, ttt_global_grad_clip=1.0,
    ),
}

# `--smoke` shrinks any preset to these sizes (features keep their settings).
SMOKE: dict[str, Any] = {k: PRESETS["tiny"][k] for k in (
    "num_layers", "model_dim", "num_heads", "num_kv_heads", "train_seq_len", "train_batch_tokens",
    "grad_accum_total", "iterations", "max_wallclock_seconds", "warmup_steps", "warmdown_iters",
    "val_loss_every", "val_batch_size", "train_log_every", "muon_momentum_warmup_steps",
)}


def _shrink(cfg: Config) -> Config:
    """SMOKE sizes; layer-indexed record features are rescaled so that each one stays on."""
    smoke = dict(SMOKE)
    old_l, old_hd = cfg.num_layers, cfg.head_dim
    if cfg.loop_extra > 0 or cfg.parallel_from >= 0:
        smoke["num_layers"] = 4  # room for an encoder, a loop, a decoder and a lane split
    n = smoke["num_layers"]
    scale = lambda i: min(max(round(i * n / old_l), 0), n - 1)  # noqa: E731
    if cfg.loop_extra > 0:
        smoke["loop_start"] = scale(cfg.loop_start)
        smoke["loop_end"] = max(smoke["loop_start"] + 1, min(round(cfg.loop_end * n / old_l), n))
    if cfg.parallel_from >= 0:
        smoke["parallel_from"] = max(scale(cfg.parallel_from), 1)
    for name in ("xsa_last_n", "value_embed_last_n"):
        if getattr(cfg, name) > 0:
            smoke[name] = max(1, min(n, round(getattr(cfg, name) * n / old_l)))
    new_hd = smoke["model_dim"] // smoke["num_heads"]
    if 0 < cfg.rope_dims < old_hd:
        smoke["rope_dims"] = max(2, 2 * round(cfg.rope_dims * new_hd / old_hd / 2))
    smoke["gate_window"] = min(cfg.gate_window, smoke["model_dim"])
    smoke["eval_seq_len"] = 0  # = the smoke train_seq_len
    if cfg.ttt_enabled:  # every TTT part stays on, at the smoke window: a few small batches and phases
        L = smoke["train_seq_len"]
        smoke.update(ttt_lora_rank=min(cfg.ttt_lora_rank, 4), ttt_chunk_tokens=min(cfg.ttt_chunk_tokens, L // 2),
                     ttt_batch_docs=min(cfg.ttt_batch_docs, 4), ttt_chains=min(cfg.ttt_chains, 2),
                     ttt_prefix_docs=min(cfg.ttt_prefix_docs, 8), ttt_phases=min(cfg.ttt_phases, 2),
                     ttt_global_chunk_tokens=min(cfg.ttt_global_chunk_tokens, 4 * L),
                     ttt_global_batch_seqs=min(cfg.ttt_global_batch_seqs, 2))
    return apply_overrides(cfg, smoke)


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
        cfg = _shrink(cfg)
    return validate(apply_overrides(cfg, overrides))


def validate(cfg: Config, world_size: int = 1) -> Config:
    """``cfg``, or one line naming every setting that cannot work (on ``world_size`` ranks).

    Every entry point calls it before a run folder or a training step exists: ``load_config``,
    the command line, ``train`` and the packed ``train_gpt.py``.
    """
    bad = [f"{name}={getattr(cfg, name)!r}; choose from {', '.join(values)}"
           for name, values in CHOICES.items() if getattr(cfg, name) not in values]
    found = bad + problems(cfg, world_size)
    if found:
        raise PgolfError("config: " + "; ".join(found))
    return cfg
