"""`pgolf eval` end to end on a tiny artifact: flags, --json fields, --audit, one-line errors."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import HANG_TIMEOUT, MINI_DATASET, MINI_TOKENIZER, REPO


@pytest.fixture(scope="module")
def artifact(tiny_model, tiny_cfg, tmp_path_factory):
    from pgolf.artifact.export import export_model

    path = tmp_path_factory.mktemp("art") / "model.pgolf"
    export_model(tiny_model, tiny_cfg, path)
    return path


def _eval(artifact, *args, tokens=1500, nproc=1):
    launcher = [sys.executable] if nproc == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    cmd = [*launcher, "-m", "pgolf", "eval", str(artifact), "--data", str(MINI_DATASET), "--tokenizer",
           str(MINI_TOKENIZER), "--device", "cpu", "--max-tokens", str(tokens), *args]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=HANG_TIMEOUT, env=env)


@pytest.fixture(scope="module")
def one_rank(artifact, tmp_path_factory):
    """The one-process sliding, document-aware eval with its audit: (completed process, audit path)."""
    audit = tmp_path_factory.mktemp("audit") / "a.json"
    return _eval(artifact, "--stride", "16", "--doc-aware", "--json", "--audit", str(audit)), audit


def test_eval_json_reports_strategy_phases_and_estimate(one_rank):
    out, audit = one_rank
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["strategy"] == "sliding(stride=16)+doc(seq_len=64)" and res["partial"]
    assert set(res["phase_seconds"]) == {"load", "score"}
    assert res["estimate_8xh100"]["seconds"] > 0 and "H100" in res["estimate_8xh100"]["basis"]
    assert res["audit"]["ok"] and json.loads(audit.read_text())["ok"]


def test_eval_ttt_text_output(artifact):
    out = _eval(artifact, "--ttt", "--ttt-chunk", "32", "--ttt-rank", "2", "--ttt-lr", "0.01", tokens=600)
    assert out.returncode == 0, out.stderr
    assert "strategy:ttt(lora_rank=2,lr=0.01,chunk=32" in out.stdout and "PARTIAL" in out.stdout
    assert "adapt:" in out.stdout and "est_8xH100:" in out.stdout


def test_bad_stride_is_a_one_line_error(artifact):
    out = _eval(artifact, "--stride", "65")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("pgolf: error:") and len(out.stderr.strip().splitlines()) == 1
    assert "stride" in out.stderr


def test_two_ranks_score_like_one(artifact, one_rank, tmp_path):
    assert one_rank[0].returncode == 0, one_rank[0].stderr
    audit = tmp_path / "a2.json"
    two = _eval(artifact, "--stride", "16", "--doc-aware", "--json", "--audit", str(audit), nproc=2)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = json.loads(one_rank[0].stdout), json.loads(two.stdout.strip().splitlines()[-1])
    assert b["world_size"] == 2
    assert abs(a["val_loss"] - b["val_loss"]) < 1e-6 * a["val_loss"]
    rep = json.loads(audit.read_text())
    assert rep["ok"] and len(rep["ranks"]) == 2 and rep["tokens_scored"] == 1499


# the first 2,200 val tokens hold 5 documents: 5 batches of one, 2 phases over the first 4
TTT = ["--ttt", "--ttt-chunk", "32", "--ttt-rank", "2", "--ttt-lr", "0.01", "--ttt-batch-docs", "1", "--ttt-chains", "2",
       "--ttt-global-lr", "0.01", "--ttt-prefix-docs", "4", "--ttt-phases", "2", "--ttt-global-chunk", "128", "--json"]


def test_phased_ttt_on_two_ranks_scores_like_one(artifact, tmp_path):
    """torchrun with two gloo ranks (one chain each; the global phases of this model, which does
    not isolate documents, split whole windows between the ranks) gives this one process's
    numbers, and the audit of both ranks' trails passes."""
    from pgolf.eval.evaluate import evaluate_artifact

    # the settings of TTT as Config fields
    over = {"ttt_enabled": True, "ttt_chunk_tokens": 32, "ttt_lora_rank": 2, "ttt_lora_lr": 0.01, "ttt_batch_docs": 1,
            "ttt_chains": 2, "ttt_global_lr": 0.01, "ttt_prefix_docs": 4, "ttt_phases": 2,
            "ttt_global_chunk_tokens": 128}
    a = evaluate_artifact(artifact, str(MINI_DATASET), str(MINI_TOKENIZER), "cpu", overrides=over, max_tokens=2200)
    audit = tmp_path / "a2.json"
    two = _eval(artifact, *TTT, "--audit", str(audit), tokens=2200, nproc=2)
    assert two.returncode == 0, two.stderr[-2000:]
    b = json.loads(two.stdout.strip().splitlines()[-1])
    assert b["world_size"] == 2 and a["phases"] == b["phases"] == 2 and a["global_steps"] == b["global_steps"] > 0
    assert a["lora_steps"] == b["lora_steps"] > 0
    assert abs(a["val_loss"] - b["val_loss"]) < 1e-6 * a["val_loss"]
    rep = json.loads(audit.read_text())
    assert rep["ok"] and len(rep["ranks"]) == 2 and rep["tokens_scored"] == 2199
    assert all(sum(e["kind"] == "sync" for e in r["events"]) == 2 for r in rep["ranks"])


def test_a_record_artifact_evaluates_as_the_record_with_no_flags():
    """No flag overrides the artifact's config, and the record preset's config names the record's
    eval: document-aware windows of 2,048 with phased TTT at its settings (--no-ttt: without)."""
    import argparse

    from pgolf.config import load_config
    from pgolf.eval.commands import overrides_from_args, register
    from pgolf.eval.strategy import strategy_name

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert overrides_from_args(parser.parse_args(["eval", "model.pgolf"])) == {}
    cfg = load_config("record")
    assert strategy_name(cfg, cfg.eval_seq_len) == ("ttt(lora_rank=80,lr=0.0001,chunk=48,docs=64,chains=8,"
                                                    "phases=3x2500docs,global_lr=0.001,seq_len=2048)")
    off = cfg.replace(**overrides_from_args(parser.parse_args(["eval", "model.pgolf", "--no-ttt"])))
    assert strategy_name(off, off.eval_seq_len, packed=True) == "nonoverlap+doc(seq_len=2048,rows=65536)"
