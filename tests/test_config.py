import pytest

from pgolf.config import PRESETS, Config, apply_overrides, env_overrides, load_config, parse_kv
from pgolf.errors import PgolfError


def test_baseline_is_the_official_defaults():
    cfg = load_config("baseline")
    assert (cfg.num_layers, cfg.model_dim, cfg.num_heads, cfg.num_kv_heads, cfg.mlp_mult) == (9, 512, 8, 4, 2.0)
    assert (cfg.train_batch_tokens, cfg.train_seq_len, cfg.max_wallclock_seconds) == (524288, 1024, 600.0)
    assert (cfg.matrix_lr, cfg.scalar_lr, cfg.tied_embed_lr) == (0.04, 0.04, 0.05)


def test_overrides_are_typed_from_strings():
    cfg = load_config("tiny", **parse_kv(["num_layers=3", "matrix_lr=0.1", "tie_embeddings=false", "run_id=x"]))
    assert cfg.num_layers == 3 and cfg.matrix_lr == 0.1 and cfg.tie_embeddings is False and cfg.run_id == "x"


def test_env_overrides_use_official_names():
    env = {"NUM_LAYERS": "5", "SEED": "7", "PATH": "/bin", "ITERATIONS": "10"}
    assert env_overrides(env) == {"num_layers": "5", "seed": "7", "iterations": "10"}


@pytest.mark.parametrize("bad", [{"num_layer": "3"}, {"num_layers": "three"}, {"tie_embeddings": "maybe"}])
def test_bad_overrides_are_one_line_errors(bad):
    with pytest.raises(PgolfError) as e:
        apply_overrides(Config(), bad)
    assert "\n" not in str(e.value)


def test_unknown_preset_and_malformed_kv():
    with pytest.raises(PgolfError, match="unknown preset"):
        load_config("nope")
    with pytest.raises(PgolfError, match="not key=value"):
        parse_kv(["num_layers"])


def test_json_round_trip_and_smoke():
    cfg = load_config("baseline", smoke=True)
    assert cfg.model_dim == PRESETS["tiny"]["model_dim"]
    assert Config.from_dict(cfg.to_dict()) == cfg


def test_impossible_settings_fail_before_any_run(tmp_path, capsys):
    import pytest

    from pgolf.cli import main
    from pgolf.config import load_config
    from pgolf.errors import PgolfError

    for bad, words in [({"model_dim": 30}, "heads of even size"), ({"num_layers": 0}, ">= 1"),
                       ({"quant_scheme": "bogus"}, "quant_scheme='bogus'"), ({"num_kv_heads": 3}, "multiple")]:
        with pytest.raises(PgolfError, match=words):
            load_config("tiny", **bad)
    assert main(["train", "--preset", "tiny", "quant_scheme=bogus", f"out_dir={tmp_path / 'runs'}"]) == 2
    assert "quant_scheme='bogus'" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("bad, words", [
    ({"lr_schedule": "cosine"}, "lr_schedule='cosine'; choose from baseline, fraction"),
    ({"muon_coeffs": "pe"}, "muon_coeffs='pe'; choose from baseline, polar_express"),
    ({"train_loader": "docs"}, "train_loader='docs'; choose from stream, bos_aligned, packed"),
    ({"grad_clip_scope": "local"}, "grad_clip_scope='local'; choose from global, rank"),
    ({"warmdown_frac": 1.5}, r"warmdown_frac=1.5 must be in \[0, 1\]"),
    ({"ema_decay": 1.0}, r"ema_decay=1.0 must be in \[0, 1\)"),
    ({"embed_weight_decay": -0.1}, "embed_weight_decay=-0.1 must be >= 0"),
])
def test_bad_optimizer_settings_are_one_line_errors(bad, words, tmp_path, capsys):
    from pgolf.cli import main

    with pytest.raises(PgolfError, match=words) as e:
        load_config("record", **bad)
    assert "\n" not in str(e.value)
    key, value = next(iter(bad.items()))
    assert main(["train", "--preset", "tiny", f"{key}={value}", f"out_dir={tmp_path / 'runs'}"]) == 2
    assert words.split(";")[0].replace("\\", "") in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
