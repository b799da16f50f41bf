"""A record log's hyperparameter dump as a Config.

The 2026-04 record scripts print every resolved hyperparameter at the top of their log::

    Hyperparameters:
      adam_eps: 1e-08
      ...

:func:`parse_log` maps each key of that dump through one explicit table: to a Config field (with
its conversion), to "ignored" (runtime and output paths, with the reason), to "fixed" (a value
the script allows but pgolf implements only one way: another value is unsupported), to "equal"
(a key that must repeat another key's value, both read by one field), or to a
"not yet mapped" group (settings whose Config field does not exist yet). A key in none of these
is unknown. :func:`config_from_log` raises on unknown keys and unsupported values, and warns
about the not-yet-mapped ones, so that nothing is dropped silently.

The table is written for the dump of the 1.0611 record's train_gpt.py
(``records/track_10min_16mb/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611``);
a log of another script family lacks some of its model keys and is refused.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pgolf.config import Config, apply_overrides, validate
from pgolf.data.tokenizer import BOS_ID
from pgolf.errors import PgolfError

Convert = Callable[[str, dict[str, str]], Any]


def _name_under(folder: str) -> Convert:
    """An absolute path on the record's machine -> the same file under this checkout's data/."""
    return lambda v, _: f"{folder}/{Path(v).name}" if v else v


def _loop_end(v: str, _: dict[str, str]) -> int:
    return int(v) + 1  # the script loops layers loop_start..loop_end inclusive; ours is exclusive


def _parallel_from(v: str, _: dict[str, str]) -> int:
    return int(v) if int(v) > 0 else -1  # the script has no lanes at 0


def _grad_accum_total(v: str, d: dict[str, str]) -> int:
    return int(v) * int(d.get("world_size", "1"))  # micro-batches per step summed over ranks


def _lqer_rank(v: str, d: dict[str, str]) -> int:
    return int(v) if d.get("lqer_enabled") == "True" else 0  # lqer_enabled=False: no correction


def _lqer_mode(v: str, _: dict[str, str]) -> str:
    return "asym" if v == "True" else "sym"


# log key -> (Config field, conversion or None: the field's own type)
MAPPED: dict[str, tuple[str, Convert | None]] = {
    # run and data
    "seed": ("seed", None),
    "run_id": ("run_id", None),
    "datasets_dir": ("data_path", _name_under("data/datasets")),
    "tokenizer_path": ("tokenizer_path", _name_under("data/tokenizers")),
    # model
    "vocab_size": ("vocab_size", None),
    "num_layers": ("num_layers", None),
    "model_dim": ("model_dim", None),
    "num_heads": ("num_heads", None),
    "num_kv_heads": ("num_kv_heads", None),
    "mlp_mult": ("mlp_mult", None),
    "tie_embeddings": ("tie_embeddings", None),
    "rope_base": ("rope_base", None),
    "rope_dims": ("rope_dims", None),
    "logit_softcap": ("logit_softcap", None),
    "qk_gain_init": ("qk_gain_init", None),
    "tied_embed_init_std": ("tied_embed_init_std", None),
    "xsa_last_n": ("xsa_last_n", None),
    "ln_scale": ("ln_scale", None),
    "num_loops": ("loop_extra", None),
    "loop_start": ("loop_start", None),
    "loop_end": ("loop_end", _loop_end),
    "enable_looping_at": ("loop_enable_frac", None),
    "parallel_start_layer": ("parallel_from", _parallel_from),
    "skip_gates_enabled": ("unet_skip_gates", None),
    "smear_gate_enabled": ("smear_gate", None),
    "sparse_attn_gate_enabled": ("attn_gate", None),
    "sparse_attn_gate_scale": ("attn_gate_scale", None),
    "gate_window": ("gate_window", None),
    # batch, clock and validation
    "iterations": ("iterations", None),
    "train_seq_len": ("train_seq_len", None),
    "train_batch_tokens": ("train_batch_tokens", None),
    "grad_accum_steps": ("grad_accum_total", _grad_accum_total),
    "max_wallclock_seconds": ("max_wallclock_seconds", None),
    "warmup_steps": ("warmup_steps", None),
    "train_log_every": ("train_log_every", None),
    "val_loss_every": ("val_loss_every", None),
    "val_batch_tokens": ("val_batch_size", None),
    "eval_seq_len": ("eval_seq_len", None),
    # optimizer, schedule and EMA: the fields that exist today with the script's meaning
    "adam_eps": ("adam_eps", None),
    "beta1": ("beta1", None),
    "beta2": ("beta2", None),
    "embed_lr": ("embed_lr", None),
    "tied_embed_lr": ("tied_embed_lr", None),
    "matrix_lr": ("matrix_lr", None),
    "scalar_lr": ("scalar_lr", None),
    "muon_momentum": ("muon_momentum", None),
    "muon_backend_steps": ("muon_backend_steps", None),
    "muon_momentum_warmup_start": ("muon_momentum_warmup_start", None),
    "muon_momentum_warmup_steps": ("muon_momentum_warmup_steps", None),
    "muon_row_normalize": ("muon_row_norm", None),
    "muon_wd": ("muon_weight_decay", None),
    "adam_wd": ("adam_weight_decay", None),
    "grad_clip_norm": ("grad_clip_norm", None),
    "ema_decay": ("ema_decay", None),
    "warmdown_frac": ("warmdown_frac", None),
    "min_lr": ("min_lr_frac", None),
    "embed_wd": ("embed_weight_decay", None),
    "gptq_reserve_seconds": ("gptq_reserve_seconds", None),
    # phased score-first TTT at eval
    "ttt_enabled": ("ttt_enabled", None),
    "ttt_lora_rank": ("ttt_lora_rank", None),
    "ttt_lora_lr": ("ttt_lora_lr", None),
    "ttt_chunk_size": ("ttt_chunk_tokens", None),
    "ttt_batch_size": ("ttt_batch_docs", None),
    "ttt_grad_steps": ("ttt_steps", None),
    "ttt_weight_decay": ("ttt_weight_decay", None),
    "ttt_beta1": ("ttt_beta1", None),
    "ttt_beta2": ("ttt_beta2", None),
    "world_size": ("ttt_chains", None),  # each GPU carries its adapters' A from batch to batch: one chain each
    "phased_ttt_prefix_docs": ("ttt_prefix_docs", None),
    "phased_ttt_num_phases": ("ttt_phases", None),
    "global_ttt_lr": ("ttt_global_lr", None),
    "global_ttt_momentum": ("ttt_global_momentum", None),
    "global_ttt_epochs": ("ttt_global_epochs", None),
    "global_ttt_chunk_tokens": ("ttt_global_chunk_tokens", None),
    "global_ttt_batch_seqs": ("ttt_global_batch_seqs", None),
    "global_ttt_grad_clip": ("ttt_global_grad_clip", None),
    # export: GPTQ bits and clips by role, the gate rows, LQER
    "matrix_bits": ("quant_bits", None),
    "embed_bits": ("quant_embed_bits", None),
    "matrix_clip_sigmas": ("quant_clip_sigmas", None),
    "attn_clip_sigmas": ("quant_attn_clip_sigmas", None),
    "mlp_clip_sigmas": ("quant_mlp_clip_sigmas", None),
    "embed_clip_sigmas": ("quant_embed_clip_sigmas", None),
    "gptq_calibration_batches": ("gptq_calib_batches", None),
    "gated_attn_quant_gate": ("quant_gate_int8", None),
    "lqer_rank": ("lqer_rank", _lqer_rank),
    "lqer_top_k": ("lqer_top_k", None),
    "lqer_factor_bits": ("lqer_bits", None),
    "lqer_asym_enabled": ("lqer_mode", _lqer_mode),
    "lqer_asym_group": ("lqer_group", None),
}

# log key -> {printed value: the Config fields that value stands for}
EXPANDED: dict[str, dict[str, dict[str, Any]]] = {
    # pergroup: one group per module across layers, transposed, rows of tok_emb / c_q / fc sorted
    # by L1 similarity, ZPAQ (lrzip) for those groups and brotli for the rest
    "compressor": {
        "pergroup": dict(artifact_codecs="lrzip,brotli", artifact_group_by="module", artifact_transpose=True,
                         artifact_row_order="l1", artifact_row_order_names="tok_emb,attn.c_q,mlp.fc"),
        "brotli": dict(artifact_codecs="brotli", artifact_group_by="role", artifact_transpose=False,
                       artifact_row_order="none", artifact_row_order_names=""),
    },
}

# the model keys a log must have for this table to describe its script
REQUIRED = ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult", "num_loops",
            "loop_start", "loop_end", "parallel_start_layer", "skip_gates_enabled", "smear_gate_enabled",
            "sparse_attn_gate_enabled", "gate_window", "rope_dims", "xsa_last_n", "ln_scale")

IGNORED: dict[str, str] = {
    "artifact_dir": "output path", "logfile": "output path", "model_path": "output path",
    "quantized_model_path": "output path",
    "data_dir": "root of the script's default paths (datasets_dir and tokenizer_path are mapped)",
    "train_files": "derived from datasets_dir", "val_files": "derived from datasets_dir",
    "val_bytes_files": "derived from datasets_dir",
    "caseops_enabled": "pgolf scores bytes through the byte sidecar whenever the data folder has one",
    "distributed": "runtime", "rank": "runtime", "local_rank": "runtime", "is_main_process": "runtime",
    "fused_ce_enabled": "a fused kernel for the same loss (pgolf soft-caps in float32 too)",
    "eval_stride": "printed but never read by the script",
    "attn_out_gate_src": "read only with attn_out_gate_enabled",
    "gated_attn_init_std": "read only with gated_attn_enabled",
    "rope_train_seq_len": "read only with rope_yarn",
    "lqer_enabled": "folded into lqer_rank (0 when off)",
    "ttt_eval_batches": "which TTT batches it logs (empty: all); the score is the same",
    "global_ttt_warmup_start_lr": "read only with global_ttt_warmup_chunks > 0",
}

# key -> the only value pgolf implements (as printed), and what it means
FIXED: dict[str, tuple[str, str]] = {
    "attn_out_gate_enabled": ("False", "the 2*sigmoid attention output gate"),
    "gated_attn_enabled": ("False", "the dense gated attention"),
    "sparse_attn_gate_init_std": ("0.0", "the sparse attention gate starts at zero"),
    "rope_yarn": ("False", "YaRN RoPE scaling"),
    "parallel_final_lane": ("mean", "the lanes are merged by their mean"),
    "ttt_k_lora": ("True", "TTT adapters on K"),
    "ttt_mlp_lora": ("True", "TTT adapters beside the MLP"),
    "ttt_o_lora": ("True", "TTT adapters on the attention output"),
    "ttt_optimizer": ("adam", "AdamW on the TTT adapters"),
    "val_doc_fraction": ("1.0", "every val document is scored"),
    "global_ttt_warmup_chunks": ("0", "the global phases' learning rate starts at its peak"),
    "global_ttt_respect_doc_boundaries": ("True", "global phases read packed rows cut at every BOS"),
}

# key -> another key it must equal (pgolf has one field for both)
EQUAL: dict[str, str] = {
    "ttt_eval_seq_len": "eval_seq_len",  # the TTT eval's window is the eval window
}

# settings whose Config field does not exist yet, by the part of pgolf they belong to
NOT_YET_MAPPED: dict[str, tuple[str, ...]] = {  # none left for the 1.0611 record's dump
}

# what the script always does without printing it: these fields take these values
SCRIPT_FACTS: dict[str, Any] = dict(
    mlp_act="leaky_relu2", mlp_leaky_slope=0.5,  # its MLP: leaky_relu(x, 0.5)^2
    doc_isolation=True, bos_id=BOS_ID,  # attention restarts at every BOS (cu_seqlens)
    orthogonal_init=True, embed_bf16=True,  # _init_weights; the embedding is left in bf16 on GPU
    muon_coeffs="polar_express", lr_schedule="fraction", compile_fullgraph=True,
    train_loader="packed",  # DocumentPackingLoader: documents back to back, cut every train_seq_len
    grad_clip_scope="rank",  # each rank clips its own gradient before the all-reduce
    # its export: GPTQ on every matrix and the tied embedding, small tensors as fp16, calibrated on
    # random windows of the train shards
    quant_scheme="gptq", quant_passthrough="fp16", gptq_calib_source="random",
    eval_doc_aware=True,  # eval_val: packed rows, attention restarting at every BOS (cu_seqlens)
    ttt_lora_alpha=144.0,  # TTT_LORA_ALPHA's default (the adapters' scale is alpha / rank); not printed
)


@dataclass
class LogImport:
    """Everything :func:`parse_log` read, key by key."""

    path: str
    config: Config
    values: dict[str, str]  # the dump as printed
    mapped: dict[str, str]  # log key -> Config field
    ignored: dict[str, str]  # log key -> why
    not_yet_mapped: dict[str, dict[str, str]]  # group -> {log key: value}
    unknown: dict[str, str]  # log key -> value
    unsupported: dict[str, str]  # log key -> what is wrong
    model_params: int | None = None  # the log's "model_params:" line

    def problems(self) -> list[str]:
        """Unknown keys and unsupported values: what stops a faithful import."""
        return ([f"unknown key {k}={v}" for k, v in self.unknown.items()]
                + [f"unsupported {k}={v}" for k, v in self.unsupported.items()])

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["config"] = self.config.to_dict()
        return d


def read_hyperparameters(path: str | Path) -> tuple[dict[str, str], int | None]:
    """The "Hyperparameters:" dump of a record log as {key: printed value}, and model_params."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError as e:
        raise PgolfError(f"{path}: cannot read log ({e.strerror or e})") from None
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Hyperparameters:")
    except StopIteration:
        raise PgolfError(f"{path}: no 'Hyperparameters:' dump in this log") from None
    values: dict[str, str] = {}
    for line in lines[start + 1:]:
        m = re.fullmatch(r"  (\w+): ?(.*)", line)
        if not m:
            break
        values[m.group(1)] = m.group(2).strip()
    params = next((int(m.group(1)) for line in lines if (m := re.match(r"model_params:\s*(\d+)", line))), None)
    return values, params


def parse_log(path: str | Path) -> LogImport:
    values, params = read_hyperparameters(path)
    absent = [k for k in REQUIRED if k not in values]
    if absent:
        raise PgolfError(f"{path}: not a dump of the 1.0611 record's script family (no {', '.join(absent)})")
    group_of = {k: g for g, keys in NOT_YET_MAPPED.items() for k in keys}
    overrides: dict[str, Any] = dict(SCRIPT_FACTS)
    mapped, ignored, unknown, unsupported = {}, {}, {}, {}
    later: dict[str, dict[str, str]] = {}
    for key, value in values.items():
        if key in MAPPED:
            name, convert = MAPPED[key]
            overrides[name] = convert(value, values) if convert else value
            mapped[key] = name
        elif key in EXPANDED:
            if value not in EXPANDED[key]:
                unsupported[key] = f"{value} (pgolf implements {', '.join(EXPANDED[key])})"
            else:
                overrides.update(EXPANDED[key][value])
                mapped[key] = ", ".join(EXPANDED[key][value])
        elif key in IGNORED:
            ignored[key] = IGNORED[key]
        elif key in FIXED:
            want, what = FIXED[key]
            if value != want:
                unsupported[key] = f"{value} (pgolf implements only {want}: {what})"
        elif key in EQUAL:
            if value != values.get(EQUAL[key]):
                unsupported[key] = f"{value} (pgolf implements only {EQUAL[key]}={values.get(EQUAL[key])}: one field)"
        elif key in group_of:
            later.setdefault(group_of[key], {})[key] = value
        else:
            unknown[key] = value
    try:
        cfg = validate(apply_overrides(Config(), overrides))
    except PgolfError as e:
        raise PgolfError(f"{path}: {e}") from None
    return LogImport(str(path), cfg, values, mapped, ignored, later, unknown, unsupported, params)


def config_from_log(path: str | Path, strict: bool = True) -> Config:
    """The Config of a record log. Unknown keys and unsupported values raise a PgolfError naming
    them (``strict=False``: warn instead); keys not yet mapped to a field are warned about."""
    imp = parse_log(path)
    if imp.problems():
        msg = f"{path}: " + "; ".join(imp.problems())
        if strict:
            raise PgolfError(msg)
        warnings.warn(msg, stacklevel=3)
    if imp.not_yet_mapped:
        groups = "; ".join(f"{g}: {', '.join(keys)}" for g, keys in imp.not_yet_mapped.items())
        warnings.warn(f"{path}: not yet mapped to a Config field (left at pgolf's defaults): {groups}", stacklevel=3)
    return imp.config
