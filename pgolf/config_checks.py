"""What ``config.validate`` checks besides the typed choices, one function per part of a run.

Each ``*_problems`` function returns one-line problems (empty: the settings work together). The
module needs no torch, so a config is read and checked before anything heavy is imported, and
before a run folder exists.
"""

from __future__ import annotations

from pgolf.errors import PgolfError
from pgolf.layout import layout_problems

# artifact_codecs is a comma list of these (pgolf/artifact/codecs.py implements each one)
CODECS = ("zlib", "lzma", "zstd", "brotli", "lrzip")


def micro_batch(cfg, world: int) -> tuple[int, int]:
    """(micro-steps per rank, tokens per rank per micro-step) of one optimizer step on ``world`` ranks."""
    accum = cfg.grad_accum_total // world
    return accum, cfg.train_batch_tokens // (world * accum)


def split_list(names: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]`` (the comma-list fields)."""
    return [n.strip() for n in names.split(",") if n.strip()]


def parse_rules(rules: str) -> list[tuple[str, int, float | None]]:
    """``quant_rules``: ``"tok_emb=7@15;mlp.proj=5"`` -> [(pattern, bits, clip sigmas or None)]."""
    out = []
    for item in filter(None, (r.strip() for r in rules.split(";"))):
        try:
            pat, spec = item.split("=", 1)
            bits, _, clip = spec.partition("@")
            out.append((pat.strip(), int(bits), float(clip) if clip else None))
        except ValueError:
            raise PgolfError(f"config: quant_rules item {item!r} is not pattern=bits[@clip_sigmas]") from None
        if not 2 <= out[-1][1] <= 8:
            raise PgolfError(f"config: quant_rules item {item!r}: bits must be 2..8")
    return out


def shape_problems(cfg) -> list[str]:
    """The model's size, heads and per-layer feature widths."""
    if cfg.num_layers < 1 or cfg.model_dim < 1 or cfg.num_heads < 1 or cfg.num_kv_heads < 1:
        return ["num_layers, model_dim, num_heads and num_kv_heads must be >= 1"]
    if cfg.model_dim % cfg.num_heads or (cfg.model_dim // cfg.num_heads) % 2:
        return [f"model_dim={cfg.model_dim} must split into num_heads={cfg.num_heads} heads of even size"]
    if cfg.num_heads % cfg.num_kv_heads:
        return [f"num_heads={cfg.num_heads} must be a multiple of num_kv_heads={cfg.num_kv_heads}"]
    out = layout_problems(cfg)
    if cfg.gate_window > cfg.model_dim or cfg.gate_window < 1:
        out.append(f"gate_window={cfg.gate_window} must be in 1..model_dim={cfg.model_dim}")
    head_dim = cfg.model_dim // cfg.num_heads
    if cfg.rope_dims < 0 or cfg.rope_dims % 2 or cfg.rope_dims > head_dim:
        out.append(f"rope_dims={cfg.rope_dims} must be even and <= head_dim={head_dim}")
    if cfg.bigram_buckets == 1 or cfg.bigram_buckets < 0:
        out.append(f"bigram_buckets={cfg.bigram_buckets}: 0 (off) or >= 2")
    if not 0 <= cfg.bos_id < cfg.vocab_size:
        out.append(f"bos_id={cfg.bos_id} must be a token id below vocab_size={cfg.vocab_size}")
    out += [f"{n}={getattr(cfg, n)} must be >= 0" for n in ("loop_extra", "xsa_last_n", "value_embed_last_n",
                                                              "attn_window") if getattr(cfg, n) < 0]
    return out


def batch_problems(cfg, world: int) -> list[str]:
    """The batch and the clock: the step splits into whole sequences on ``world`` ranks."""
    if cfg.vocab_size < 2 or cfg.train_seq_len < 1 or cfg.train_batch_tokens < cfg.train_seq_len:
        return ["vocab_size >= 2, train_seq_len >= 1 and train_batch_tokens >= train_seq_len are required"]
    out = []
    if cfg.grad_accum_total < 1 or cfg.grad_accum_total % world:
        out.append(f"grad_accum_total={cfg.grad_accum_total} is not divisible by world size {world}")
    else:
        accum, local = micro_batch(cfg, world)
        if local * world * accum != cfg.train_batch_tokens or local % cfg.train_seq_len or local == 0:
            out.append(f"train_batch_tokens={cfg.train_batch_tokens} does not split into {world * accum} "
                       f"micro-batches of whole train_seq_len={cfg.train_seq_len} sequences")
    if cfg.wallclock_guard and cfg.iterations < 1:
        out.append("wallclock_guard=true needs iterations >= 1 (the steps bound the run)")
    if cfg.max_wallclock_seconds < 0:
        out.append(f"max_wallclock_seconds={cfg.max_wallclock_seconds} must be >= 0 (0: no clock)")
    elif cfg.max_wallclock_seconds > 0 and cfg.quant_scheme == "gptq" \
            and cfg.gptq_reserve_seconds >= cfg.max_wallclock_seconds:
        out.append(f"gptq_reserve_seconds={cfg.gptq_reserve_seconds} leaves no training time under "
                   f"max_wallclock_seconds={cfg.max_wallclock_seconds}")
    return out


def optim_problems(cfg) -> list[str]:
    """The optimizer and schedule numbers."""
    out = []
    for name in ("warmdown_frac", "min_lr_frac", "loop_enable_frac"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            out.append(f"{name}={getattr(cfg, name)} must be in [0, 1]")
    for name in ("muon_momentum", "muon_momentum_warmup_start", "ema_decay", "beta1", "beta2"):
        if not 0.0 <= getattr(cfg, name) < 1.0:
            out.append(f"{name}={getattr(cfg, name)} must be in [0, 1)")
    for name in ("muon_weight_decay", "adam_weight_decay", "embed_weight_decay", "grad_clip_norm"):
        if getattr(cfg, name) < 0:
            out.append(f"{name}={getattr(cfg, name)} must be >= 0")
    if cfg.muon_backend_steps < 1:
        out.append(f"muon_backend_steps={cfg.muon_backend_steps} must be >= 1")
    return out


def export_problems(cfg) -> list[str]:
    """Quantization, calibration and the model file's codecs."""
    out = []
    unknown = [n for n in split_list(cfg.artifact_codecs) if n not in CODECS]
    if unknown or not split_list(cfg.artifact_codecs):
        out.append(f"artifact_codecs={cfg.artifact_codecs!r}: name one or more of {', '.join(CODECS)}")
    for name in ("quant_bits", "quant_embed_bits", "lqer_bits"):
        if not 2 <= getattr(cfg, name) <= 8:
            out.append(f"{name}={getattr(cfg, name)}; choose 2..8")
    clips = ("quant_clip_sigmas", "quant_attn_clip_sigmas", "quant_mlp_clip_sigmas", "quant_embed_clip_sigmas")
    out += [f"{n}={getattr(cfg, n)} must be >= 0" for n in clips if getattr(cfg, n) < 0]
    if cfg.lqer_group < 1 or cfg.gptq_block_size < 1 or cfg.gptq_calib_batches < 0:
        out.append("lqer_group and gptq_block_size must be >= 1, gptq_calib_batches >= 0")
    if cfg.gptq_reserve_seconds < 0 or cfg.gptq_reserve_margin <= 0:
        out.append("gptq_reserve_seconds must be >= 0 and gptq_reserve_margin > 0")
    try:
        parse_rules(cfg.quant_rules)
    except PgolfError as e:
        out.append(str(e).removeprefix("config: "))
    return out


def eval_problems(cfg) -> list[str]:
    """The eval strategy's and TTT's numbers (their fit to the eval's own sequence length, which
    `pgolf eval --seq-len` may change, is checked when it runs)."""
    out = [f"{n}={getattr(cfg, n)} must be >= 0" for n in (
        "eval_seq_len", "eval_stride", "ttt_lora_rank", "ttt_steps", "ttt_prefix_docs", "ttt_global_epochs",
        "ttt_lora_lr", "ttt_weight_decay", "ttt_global_lr", "ttt_global_grad_clip") if getattr(cfg, n) < 0]
    out += [f"{n}={getattr(cfg, n)} must be >= 1" for n in (
        "ttt_chunk_tokens", "ttt_batch_docs", "ttt_chains", "ttt_phases", "ttt_global_chunk_tokens",
        "ttt_global_batch_seqs") if getattr(cfg, n) < 1]
    out += [f"{n}={getattr(cfg, n)} must be in [0, 1)" for n in ("ttt_beta1", "ttt_beta2", "ttt_global_momentum")
            if not 0.0 <= getattr(cfg, n) < 1.0]
    if cfg.ttt_lora_alpha <= 0:
        out.append(f"ttt_lora_alpha={cfg.ttt_lora_alpha} must be > 0")
    return out


def problems(cfg, world: int = 1) -> list[str]:
    """Every problem of ``cfg`` beyond its typed choices, for a run on ``world`` ranks."""
    return (shape_problems(cfg) + batch_problems(cfg, world) + optim_problems(cfg) + export_problems(cfg)
            + eval_problems(cfg))
