"""`pgolf check` on synthetic record folders: each rule passes clean folders and catches its fault."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pgolf.artifact.size import CAP_BYTES
from pgolf.cli import main
from pgolf.data.shards import read_shard, write_shard
from pgolf.referee.check import check_folder
from pgolf.referee.records import read_record
from tests.conftest import MINI_DATASET
from tests.referee.kit import CODE, make_record, official_log


def status(report: dict, rule: str) -> str:
    return next(v["status"] for v in report["rules"] if v["rule"] == rule)


def detail(report: dict, rule: str) -> str:
    return next(v["detail"] for v in report["rules"] if v["rule"] == rule)


def test_clean_folder_passes(tmp_path, capsys):
    folder = make_record(tmp_path / "rec")
    rep = check_folder(folder)
    assert rep["ok"], rep
    for rule in ("required_files", "artifact_size", "train_time", "eval_time", "submission_agrees", "one_code_and_config"):
        assert status(rep, rule) == "pass", rule
    assert status(rep, "train_val_overlap") == "n/a"
    assert main(["check", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["seeds"] == [1, 2, 3]


def test_official_format_is_read(tmp_path):
    folder = make_record(tmp_path / "rec", seeds=(1337,), bpbs=(1.22436570,), train_ms=600038, step_avg=43.54)
    rec = read_record(folder)
    (lg,) = rec.logs
    assert lg.seed == 1337
    assert lg.val_bpb == pytest.approx(1.2243657) and lg.score_line.startswith("final_int8_zlib_roundtrip_exact")
    assert lg.train_ms == 600038 and lg.step_avg_ms == 43.54 and lg.eval_s == pytest.approx(1.401)
    assert lg.model_bytes == 15_000_000 and lg.code_bytes == len(CODE)
    assert lg.config["num_layers"] == "9" and lg.config["train_seq_len"] == "1024"
    assert "tokenizer_path" not in {k for k, v in lg.config.items() if "/" not in v}
    rep = check_folder(folder)
    # 38 ms over 600 s is less than one 43.54 ms step, with the wallclock stop logged: a pass, said so
    assert status(rep, "train_time") == "pass" and "0.9 step(s) of 43.54 ms with the wallclock stop logged" in next(
        v["detail"] for v in rep["rules"] if v["rule"] == "train_time")


def test_later_official_variants(tmp_path):
    text = "\n".join([
        "seed: 42", "stopping_early: wallclock_cap train_time: 596137ms step: 4703/20000",
        "diagnostic quantized val_loss:2.34613048 val_bpb:1.07199665 eval_time:9000ms",
        "Serialized model quantized+pergroup: 15951365 bytes",
        "Total submission size quantized+pergroup: 15989499 bytes",
        "quantized_ttt_phased val_loss:2.31538446 val_bpb:1.05803761 eval_time:591446ms",
        "total_eval_time:591.4s",
    ])
    path = tmp_path / "train_seed42.log"
    path.write_text(text)
    from pgolf.referee.records import parse_log

    lg = parse_log(path)
    assert (lg.seed, lg.train_ms, lg.steps, lg.model_bytes, lg.total_bytes) == (42, 596137, 4703, 15951365, 15989499)
    assert lg.val_bpb == pytest.approx(1.05803761) and lg.eval_s == pytest.approx(591.4)
    assert lg.tokens_per_byte == pytest.approx(1.05803761 * np.log(2) / 2.31538446)


def test_one_byte_over_the_cap_fails(tmp_path, capsys):
    folder = make_record(tmp_path / "rec", model_bytes=CAP_BYTES - len(CODE))
    assert status(check_folder(folder), "artifact_size") == "pass"
    with open(folder / "model.ptz", "wb") as f:  # the shipped model file: one byte more than the logs say
        f.truncate(CAP_BYTES - len(CODE) + 1)
    rep = check_folder(folder)
    assert status(rep, "artifact_size") == "fail" and not rep["ok"]
    assert "1 over" in next(v["detail"] for v in rep["rules"] if v["rule"] == "artifact_size")
    assert main(["check", str(folder)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_real_code_bytes_count_not_the_logged(tmp_path):
    folder = make_record(tmp_path / "rec", model_bytes=CAP_BYTES - len(CODE))
    (folder / "train_gpt.py").write_text(CODE + "#")  # the real file is one byte longer than logged
    assert status(check_folder(folder), "artifact_size") == "fail"


def test_training_600_5_seconds_fails(tmp_path):
    folder = make_record(tmp_path / "rec", train_ms=600_500, step_avg=43.54)
    rep = check_folder(folder)
    assert status(rep, "train_time") == "fail" and "rec" in rep["folder"]
    assert status(check_folder(make_record(tmp_path / "ok", train_ms=599_999)), "train_time") == "pass"


def test_eval_over_600_seconds_fails(tmp_path):
    assert status(check_folder(make_record(tmp_path / "rec", eval_ms=600_001)), "eval_time") == "fail"


def test_submission_disagreeing_with_logs_fails(tmp_path):
    folder = make_record(tmp_path / "rec", submission={"val_bpb": 1.1950})
    rep = check_folder(folder)
    assert status(rep, "submission_agrees") == "fail"
    assert "val_bpb 1.195 matches neither the logs' mean" in detail(rep, "submission_agrees")
    # rounding in the JSON is not a disagreement: 5 decimals written, within half a unit
    folder = make_record(tmp_path / "rounded", submission={"val_bpb": round((1.2001 + 1.2010 + 1.1995) / 3, 5)})
    assert status(check_folder(folder), "submission_agrees") == "pass"
    # a claimed seed without a log fails; stale or wrong figures beside the score warn
    for bad, level in (({"seeds": [1, 2, 4]}, "fail"), ({"bytes_total": 12}, "warn"),
                       ({"seed_results": {"1": {"val_bpb": 1.3}}}, "warn"), ({"seed_results": {"9": {"val_bpb": 1.3}}}, "fail")):
        rep = check_folder(make_record(tmp_path / str(len(str(bad))), submission=bad))
        assert status(rep, "submission_agrees") == level, (bad, detail(rep, "submission_agrees"))


def test_submission_conventions_the_maintainers_accepted_warn(tmp_path):
    """One named seed instead of the mean, the population std, a BPB written as val_loss."""
    bpbs = (1.2001, 1.2010, 1.1995)
    named = check_folder(make_record(tmp_path / "named", submission={"val_bpb": 1.2010}))
    assert status(named, "submission_agrees") == "warn" and named["ok"]
    assert "is seed 2 (train_seed2.log)'s score, not the mean" in detail(named, "submission_agrees")
    import statistics

    pop = check_folder(make_record(tmp_path / "pop", submission={"val_bpb_std": round(statistics.pstdev(bpbs), 8)}))
    assert "population std" in detail(pop, "submission_agrees")
    mislabeled = check_folder(make_record(tmp_path / "mis", submission={"val_loss": round(statistics.mean(bpbs), 5)}))
    assert "is the mean val_bpb" in detail(mislabeled, "submission_agrees")
    assert main(["check", str(tmp_path / "named")]) == 0 and main(["check", str(tmp_path / "named"), "--strict"]) == 1


def test_unreadable_submission_json_fails_its_rule_and_the_rest_still_report(tmp_path, capsys):
    folder = make_record(tmp_path / "rec")
    (folder / "submission.json").write_text("{bad")
    rep = check_folder(folder)
    assert status(rep, "submission_agrees") == "fail" and "not valid JSON" in next(
        v["detail"] for v in rep["rules"] if v["rule"] == "submission_agrees")
    assert status(rep, "artifact_size") == "pass" and status(rep, "train_time") == "pass"
    assert main(["check", str(folder)]) == 1


def test_seed_from_another_config_fails(tmp_path):
    other = official_log(3, 1.1995, 1.1995 * np.log(2) / 0.4153, layers=10)
    rep = check_folder(make_record(tmp_path / "rec", logs={3: other}))
    assert status(rep, "one_code_and_config") == "fail"
    assert "seed 3 (train_seed3.log) ran num_layers=10 where seed 1 (train_seed1.log) ran 9" in detail(rep, "one_code_and_config")


def test_missing_files_fail(tmp_path):
    folder = make_record(tmp_path / "rec")
    (folder / "train_gpt.py").unlink()
    rep = check_folder(folder)
    assert status(rep, "required_files") == "fail"


def test_significance_against_a_reference(tmp_path):
    ref = make_record(tmp_path / "ref", bpbs=(1.2244, 1.2250, 1.2238))
    new = make_record(tmp_path / "new")
    rep = check_folder(new, against=ref)
    assert status(rep, "significance") == "pass"
    assert status(check_folder(new, sota_bpb=1.2030), "significance") == "fail"


def test_audit_report_is_used(tmp_path):
    folder = make_record(tmp_path / "rec")
    (folder / "ttt_audit.json").write_text(json.dumps({"ok": False, "checks": {"score_before_update": {"ok": False, "detail": "x"}},
                                                       "strategy": "ttt", "tokens_scored": 10}))
    assert status(check_folder(folder), "score_first_audit") in ("fail", "n/a")


def _val_doc(tokens: np.ndarray, k: int) -> np.ndarray:
    starts = np.flatnonzero(tokens == 1)
    return tokens[starts[k]:starts[k + 1]]


def test_train_shard_containing_a_val_document_fails_overlap(tmp_path):
    val = read_shard(MINI_DATASET / "fineweb_val_000000.bin")[:200_000]
    val = val[: np.flatnonzero(val == 1)[-1]]  # whole documents only
    train = read_shard(MINI_DATASET / "fineweb_train_000000.bin")[:300_000]
    clean = tmp_path / "clean"
    write_shard(clean / "fineweb_val_000000.bin", val)
    write_shard(clean / "fineweb_train_000000.bin", train)
    folder = make_record(tmp_path / "rec")
    rep = check_folder(folder, data=clean)
    assert status(rep, "train_val_overlap") == "pass", rep
    leaky = tmp_path / "leaky"
    write_shard(leaky / "fineweb_val_000000.bin", val)
    cut = int(np.flatnonzero(train == 1)[50])
    write_shard(leaky / "fineweb_train_000000.bin", np.concatenate([train[:cut], _val_doc(val, 7), train[cut:]]))
    rep = check_folder(folder, data=leaky)
    assert status(rep, "train_val_overlap") == "fail"
    assert "val doc 7" in next(v["detail"] for v in rep["rules"] if v["rule"] == "train_val_overlap")


def test_byte_table_file_round_trips(tmp_path):
    from pgolf.data.bytes import load_table
    from pgolf.referee.dataproof import load_byte_table, save_byte_table
    from tests.conftest import MINI_TOKENIZER

    table = load_table(MINI_TOKENIZER)
    save_byte_table(table, tmp_path / "byte_table.json")
    back = load_byte_table(tmp_path / "byte_table.json")
    for name in ("base", "leading_space", "boundary"):
        assert np.array_equal(getattr(table, name), getattr(back, name))


def test_tokenizer_double_counting_the_space_fails_the_proof(tmp_path):
    pytest.importorskip("pgolf.data.prove")
    import shutil

    from pgolf.data.bytes import ByteTable, load_table
    from pgolf.referee.dataproof import save_byte_table
    from tests.conftest import MINI, MINI_TOKENIZER

    good = make_record(tmp_path / "good")
    shutil.copyfile(MINI_TOKENIZER, good / "fineweb_1024_bpe.model")
    save_byte_table(load_table(MINI_TOKENIZER), good / "byte_table.json")
    assert status(check_folder(good, data=MINI), "tokenizer_bytes") == "pass"
    bad = make_record(tmp_path / "bad")
    shutil.copyfile(MINI_TOKENIZER, bad / "fineweb_1024_bpe.model")
    t = load_table(MINI_TOKENIZER)
    # the marker counted in the piece's length and again as the space: "▁the" = 4 + 1 bytes
    doubled = ByteTable(base=t.base + t.leading_space.astype(np.int32), leading_space=t.leading_space, boundary=t.boundary)
    save_byte_table(doubled, bad / "byte_table.json")
    rep = check_folder(bad, data=MINI)
    assert status(rep, "tokenizer_bytes") == "fail" and not rep["ok"]


def test_tokenizer_rule_passes_the_shipped_table_to_prove(tmp_path, monkeypatch):
    """Wiring only, with a stand-in for pgolf.data.prove: the shipped byte table reaches prove()."""
    import sys
    import types

    from pgolf.data.bytes import load_table
    from pgolf.referee.dataproof import save_byte_table
    from tests.conftest import MINI_TOKENIZER

    calls = []

    def fake_prove(data, tokenizer=None, docs=None, byte_table=None, progress=False):
        calls.append((data, tokenizer, byte_table))
        ok = byte_table is None or int(byte_table.base.sum()) == int(load_table(tokenizer).base.sum())
        return {"ok": ok, "reference": "utf-8", "mismatches": 0 if ok else 3, "first_mismatch": None if ok else {"doc": 0},
                "bytes_counted": 10 if ok else 13, "bytes_reference": 10}

    monkeypatch.setitem(sys.modules, "pgolf.data.prove", types.SimpleNamespace(prove=fake_prove))
    folder = make_record(tmp_path / "rec")
    (folder / "tokenizers").mkdir()
    (folder / "tokenizers" / "tok.model").write_bytes(MINI_TOKENIZER.read_bytes())
    assert status(check_folder(folder), "tokenizer_bytes") == "n/a"  # no --data
    assert status(check_folder(folder, data=tmp_path), "tokenizer_bytes") == "pass"
    assert calls[-1][2] is None  # no table shipped: prove derives it from the tokenizer
    t = load_table(MINI_TOKENIZER)
    t.base[5] += 1
    save_byte_table(t, folder / "tokenizers" / "byte_table.json")
    rep = check_folder(folder, data=tmp_path)
    assert status(rep, "tokenizer_bytes") == "fail" and calls[-1][2] is not None


def test_variants_copies_and_errors(tmp_path, capsys):
    folder = make_record(tmp_path / "rec", seeds=(42, 7), bpbs=(1.10, 1.11))
    (folder / "train.log").write_text((folder / "train_seed42.log").read_text().replace("seed:42\n", ""))
    sub = json.loads((folder / "submission.json").read_text())
    sub["val_bpb_mean"] = sub.pop("val_bpb")
    (folder / "submission.json").write_text(json.dumps(sub))
    rec = read_record(folder)
    assert sorted(lg.seed for lg in rec.logs) == [7, 42]  # the seedless copy of seed 42 is not a third seed
    assert status(check_folder(folder), "submission_agrees") == "pass"
    assert main(["check", str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.startswith("pgolf: error:")


def test_real_audit_reports(tmp_path):
    audit = pytest.importorskip("pgolf.eval.audit")

    def report(scores):
        trail = audit.AuditTrail(n_tokens=10, vocab_size=1024)
        for lo, hi in scores:
            trail.sample(lo, prob_sum=1.0, p_target=0.5, nll=float(np.log(2)), vocab=1024)
            trail.score([(lo, hi)])
        return audit.build_report([trail.rank_record()], "plain", 10, 1024, [])

    folder = make_record(tmp_path / "rec")
    audit.write_report(folder / "eval_audit.json.gz", report([(1, 10)]))
    assert status(check_folder(folder), "score_first_audit") == "pass"
    audit.write_report(folder / "eval_audit.json.gz", report([(1, 10), (4, 6)]))  # tokens 4, 5 scored twice
    rep = check_folder(folder)
    assert status(rep, "score_first_audit") == "fail" and not rep["ok"]
