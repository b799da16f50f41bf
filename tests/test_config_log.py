"""config_from_log: the 1.0611 record's hyperparameter dump, key by key, as a Config."""

import dataclasses
import re
import warnings

import pytest

from pgolf import config_from_log
from pgolf.config import Config, load_config
from pgolf.config_log import EQUAL, EXPANDED, FIXED, IGNORED, MAPPED, NOT_YET_MAPPED, REQUIRED, SCRIPT_FACTS, parse_log
from pgolf.errors import PgolfError
from tests.reference import RECORD_1_0611

# the fields the record preset and the log must agree on: data, batch, model, optimizer, schedule, eval
AGREED_FIELDS = (
    "vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult", "tie_embeddings", "rope_base",
    "logit_softcap", "qk_gain_init", "tied_embed_init_std", "mlp_act", "mlp_leaky_slope", "loop_start", "loop_end",
    "loop_extra", "loop_enable_frac", "parallel_from", "unet_skip_gates", "ln_scale", "orthogonal_init", "embed_bf16",
    "rope_dims", "xsa_last_n", "attn_gate", "attn_gate_scale", "gate_window", "doc_isolation", "bos_id",
    "attn_window", "smear_gate", "bigram_buckets", "value_embed_last_n",
    "data_path", "tokenizer_path", "train_seq_len", "eval_seq_len", "train_batch_tokens", "grad_accum_total",
    "iterations", "max_wallclock_seconds", "warmup_steps", "val_batch_size", "val_loss_every", "train_log_every",
    # optimizer, schedule, EMA and the loader
    "adam_eps", "beta1", "beta2", "embed_lr", "tied_embed_lr", "matrix_lr", "scalar_lr", "muon_momentum",
    "muon_backend_steps", "muon_momentum_warmup_start", "muon_momentum_warmup_steps", "muon_row_norm",
    "muon_weight_decay", "adam_weight_decay", "embed_weight_decay", "grad_clip_norm", "grad_clip_scope", "ema_decay",
    "warmdown_frac", "min_lr_frac", "muon_coeffs", "lr_schedule", "compile_fullgraph", "train_loader",
    "gptq_reserve_seconds",
    # export
    "quant_scheme", "quant_bits", "quant_embed_bits", "quant_clip_sigmas", "quant_attn_clip_sigmas",
    "quant_mlp_clip_sigmas", "quant_embed_clip_sigmas", "quant_passthrough", "quant_gate_int8", "gptq_calib_batches",
    "gptq_calib_source", "lqer_rank", "lqer_top_k", "lqer_bits", "lqer_mode", "lqer_group", "artifact_codecs",
    "artifact_group_by", "artifact_transpose", "artifact_row_order", "artifact_row_order_names",
    # the eval: document-aware windows, phased score-first TTT and its global phases
    "eval_doc_aware", "ttt_enabled", "ttt_lora_rank", "ttt_lora_alpha", "ttt_lora_lr", "ttt_beta1", "ttt_beta2",
    "ttt_weight_decay", "ttt_chunk_tokens", "ttt_steps", "ttt_batch_docs", "ttt_chains", "ttt_prefix_docs",
    "ttt_phases", "ttt_global_lr", "ttt_global_momentum", "ttt_global_epochs", "ttt_global_chunk_tokens",
    "ttt_global_batch_seqs", "ttt_global_grad_clip",
)


@pytest.fixture(scope="module")
def record_log(reference_root):
    return reference_root / RECORD_1_0611 / "train_seed42.log"


def _quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return config_from_log(path, **kw)


def test_every_key_of_the_dump_has_exactly_one_treatment(record_log):
    imp = parse_log(record_log)
    later = {k for keys in NOT_YET_MAPPED.values() for k in keys}
    groups = [set(MAPPED), set(EXPANDED), set(IGNORED), set(FIXED), set(EQUAL), later]
    assert sum(map(len, groups)) == len(set().union(*groups))  # no key in two groups
    assert set(imp.values) == set().union(*groups)  # every key of the dump is in the table, nothing spare
    assert len(imp.values) == 124 and not imp.unknown and not imp.unsupported
    assert imp.model_params == 35_945_671
    fields = {f.name for f in dataclasses.fields(Config)}
    assert {name for name, _ in MAPPED.values()} | set(SCRIPT_FACTS) <= fields
    assert set(REQUIRED) <= set(MAPPED)


def test_the_log_and_the_record_preset_agree_on_data_batch_model_optimizer_and_eval(record_log):
    got, want = _quiet(record_log), load_config("record")
    diff = {k: (getattr(got, k), getattr(want, k)) for k in AGREED_FIELDS if getattr(got, k) != getattr(want, k)}
    assert not diff
    assert got.seed == 42 and got.run_id == "record_smearfix_s42"


def test_conversions(record_log, tmp_path):
    cfg = _quiet(record_log)
    assert (cfg.loop_start, cfg.loop_end, cfg.loop_extra) == (3, 6, 2)  # the log's loop_end 5 is inclusive
    assert cfg.parallel_from == 8 and cfg.grad_accum_total == 8 and cfg.min_lr_frac == 0.1
    text = record_log.read_text()
    for key, value in {"parallel_start_layer": "0", "world_size": "2", "grad_accum_steps": "4"}.items():
        text = re.sub(rf"^  {key}: .*$", f"  {key}: {value}", text, flags=re.M)
    (tmp_path / "log.txt").write_text(text)
    cfg = _quiet(tmp_path / "log.txt")
    assert cfg.parallel_from == -1 and cfg.grad_accum_total == 8 and cfg.ttt_chains == 2


def test_all_seed_logs_give_one_config_but_seed_and_run_id(reference_root):
    cfgs = [_quiet(p).to_dict() for p in sorted((reference_root / RECORD_1_0611).glob("train_seed*.log"))]
    assert len(cfgs) == 3
    for c in cfgs[1:]:
        assert {k for k in c if c[k] != cfgs[0][k]} == {"seed", "run_id"}


def _edited(record_log, tmp_path, old, new):
    text = record_log.read_text()
    assert old in text
    path = tmp_path / "edited.log"
    path.write_text(text.replace(old, new, 1))
    return path


def test_unknown_keys_and_unsupported_values_are_named(record_log, tmp_path):
    unknown = _edited(record_log, tmp_path, "  adam_eps: 1e-08\n", "  adam_eps: 1e-08\n  new_trick: 3\n")
    with pytest.raises(PgolfError, match="unknown key new_trick=3"):
        _quiet(unknown)
    with pytest.warns(UserWarning) as rec:
        config_from_log(unknown, strict=False)
    assert any("unknown key new_trick=3" in str(w.message) for w in rec)
    with pytest.raises(PgolfError, match="unsupported rope_yarn=True"):
        _quiet(_edited(record_log, tmp_path, "  rope_yarn: False", "  rope_yarn: True"))
    with pytest.raises(PgolfError, match="unsupported ttt_eval_seq_len=1024"):
        _quiet(_edited(record_log, tmp_path, "  ttt_eval_seq_len: 2048", "  ttt_eval_seq_len: 1024"))
    with pytest.raises(PgolfError, match="unsupported ttt_optimizer=sgd"):
        _quiet(_edited(record_log, tmp_path, "  ttt_optimizer: adam", "  ttt_optimizer: sgd"))
    with pytest.raises(PgolfError, match="no parallel_start_layer"):
        _quiet(_edited(record_log, tmp_path, "  parallel_start_layer: 8\n", ""))
    with pytest.raises(PgolfError, match="no 'Hyperparameters:' dump"):
        _quiet(_edited(record_log, tmp_path, "Hyperparameters:", "Settings:"))


def test_the_record_log_maps_every_key(record_log):
    """Nothing of the record's dump is left at pgolf's defaults: no "not yet mapped" warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        config_from_log(record_log)
    assert not NOT_YET_MAPPED


def test_export_keys(record_log, tmp_path):
    cfg = _quiet(record_log)
    assert (cfg.lqer_rank, cfg.lqer_mode, cfg.artifact_group_by, cfg.quant_embed_bits) == (4, "asym", "module", 7)
    text = record_log.read_text()
    for key, value in {"lqer_enabled": "False", "lqer_asym_enabled": "False", "compressor": "brotli"}.items():
        text = re.sub(rf"^  {key}: .*$", f"  {key}: {value}", text, flags=re.M)
    (tmp_path / "log.txt").write_text(text)
    cfg = _quiet(tmp_path / "log.txt")
    assert (cfg.lqer_rank, cfg.lqer_mode, cfg.artifact_codecs, cfg.artifact_row_order) == (0, "sym", "brotli", "none")
    (tmp_path / "log2.txt").write_text(re.sub(r"^  compressor: .*$", "  compressor: lzma", text, flags=re.M))
    with pytest.raises(PgolfError, match="unsupported compressor=lzma"):
        _quiet(tmp_path / "log2.txt")
