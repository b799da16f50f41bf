"""Crafted folders for each layout, accounting and timing rule `pgolf check` applies (docs/referee.md)."""

from __future__ import annotations

import base64
import json
import lzma
import math

import pytest

from pgolf.artifact.size import CAP_BYTES
from pgolf.referee.check import check_folder
from pgolf.referee.records import read_record
from tests.referee.kit import CODE, make_record, official_log

TPB = 0.4153
SOURCE_DUMP = (  # the official scripts log their own source first: nothing in it is a fact of the run
    'import os', 'class Hyperparameters:', '    seed = int(os.environ.get("SEED", 99))  # seed:99',
    '    num_layers = 12', 'log0(f"seed:{args.seed} world_size:{world_size}")',
    "=" * 100, "nohup: ignoring input")


def _loss(bpb: float) -> float:
    return bpb * math.log(2) / TPB


def rule(rep: dict, name: str) -> dict:
    return next(v for v in rep["rules"] if v["rule"] == name)


def test_txt_logs_under_logs_with_unix_times_and_a_source_dump(tmp_path):
    folder = make_record(tmp_path / "rec")
    for s, b in zip((1, 2, 3), (1.2001, 1.2010, 1.1995)):
        (folder / f"train_seed{s}.log").unlink()
        (folder / "logs").mkdir(exist_ok=True)
        (folder / "logs" / f"train{s}.txt").write_text(
            official_log(s, b, _loss(b), head=SOURCE_DUMP, prefix="1776143353.675 "))
    rec = read_record(folder)
    assert [lg.evidence() for lg in rec.logs] == ["logs/train1.txt", "logs/train2.txt", "logs/train3.txt"]
    lg = rec.logs[0]
    assert lg.seed == 1 and lg.train_ms == 599_100 and lg.stop_logged and lg.val_bpb == pytest.approx(1.2001)
    assert lg.config["num_layers"] == "9" and "nohup" not in lg.config  # not the dump's 12, not the nohup line
    assert check_folder(folder)["verdict"] == "PASS"


def test_not_a_record_folder_and_renamed_files(tmp_path):
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "train.log").write_text(official_log(1, 1.2, _loss(1.2), model_bytes=CAP_BYTES))
    rep = check_folder(stray)
    assert rep["verdict"] == "FAIL" and rule(rep, "required_files")["detail"].startswith("not a record folder")
    assert "logs its own total" in rule(rep, "artifact_size")["detail"]  # the log's own total is over the cap
    folder = make_record(tmp_path / "renamed")
    (folder / "train_gpt.py").rename(folder / "train_gpt_v5.py")
    (folder / "submission.json").rename(folder / "submission_v5.json")
    rep = check_folder(folder)
    assert rule(rep, "required_files")["status"] == "warn" and rep["verdict"] == "WARN"
    assert "train_gpt_v5.py, not train_gpt.py" in rule(rep, "required_files")["detail"]


def test_an_eval_only_log_in_a_subfolder_rescores_its_seed(tmp_path):
    bpbs = (1.1990, 1.2010, 1.1995)
    folder = make_record(tmp_path / "rec", submission={"val_bpb": round(sum(bpbs) / 3, 8), "seed_results": {},
                                                        "val_loss": None, "val_bpb_std": None})
    (folder / "reeval").mkdir()
    (folder / "reeval" / "seed_1.log").write_text(
        "seed: 1\nquantized_ttt val_loss:%.8f val_bpb:1.19900000 eval_time:500000ms\n" % _loss(1.199))
    rec = read_record(folder)
    seed1 = next(lg for lg in rec.logs if lg.seed == 1)
    assert seed1.val_bpb == pytest.approx(1.199) and seed1.own_bpb == pytest.approx(1.2001)
    assert seed1.score_from == "reeval/seed_1.log" and seed1.eval_s == pytest.approx(500.0)
    assert rule(check_folder(folder), "submission_agrees")["status"] == "pass"


def test_a_rerun_of_the_shipped_code_is_the_counted_run(tmp_path):
    folder = make_record(tmp_path / "rec", seeds=(1, 2), bpbs=(1.2001, 1.2010))
    (folder / "train_seed1_original.log").write_text(official_log(1, 1.2101, _loss(1.2101), code_bytes=len(CODE) - 5))
    rec = read_record(folder)
    assert [lg.evidence() for lg in rec.logs] == ["train_seed1.log", "train_seed2.log"]
    assert [lg.evidence() for lg in rec.extra_runs] == ["train_seed1_original.log"]
    copy = make_record(tmp_path / "copy", seeds=(1, 2), bpbs=(1.2001, 1.2010))
    (copy / "train.log").write_text((copy / "train_seed1.log").read_text())
    assert len(read_record(copy).logs) == 2 and read_record(copy).copies


def test_code_that_runs_is_counted(tmp_path):
    stub = make_record(tmp_path / "stub", model_bytes=CAP_BYTES - 1000)
    line = 'exec(open(__file__.replace("train_gpt.py","train_gpt_decode.py")).read())\n'
    (stub / "train_gpt.py").write_text(line)
    (stub / "train_gpt_decode.py").write_text(CODE * 4)  # 1,320 bytes that really run
    rep = check_folder(stub)
    size = rule(rep, "artifact_size")
    assert size["status"] == "fail" and size["numbers"]["bytes_code"] == len(line) + 1320
    assert "train_gpt_decode.py 1,320 (named in train_gpt.py)" in size["detail"]
    helper = make_record(tmp_path / "helper")
    source = "import os\nfrom tilt import Tilt\n" + "x = 1\n" * 400
    blob = base64.b85encode(lzma.compress(source.encode(), format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2}]))
    (helper / "train_gpt.py").write_text(
        f'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("{blob.decode()}"),format=L.FORMAT_RAW,'
        f'filters=[{{"id":L.FILTER_LZMA2}}]))\n')
    (helper / "tilt.py").write_text('SRC = _HERE / "kernels" / "fused.cpp"\n')
    (helper / "kernels").mkdir()
    (helper / "kernels" / "fused.cpp").write_text("int main() { return 0; }\n")
    (helper / "prepare_data.py").write_text("print('data prep, not run by train_gpt.py')\n")
    size = rule(check_folder(helper), "artifact_size")
    assert "lzma self-extracting wrapper + tilt.py" in size["detail"] and "kernels/fused.cpp" in size["detail"]
    assert "not counted: prepare_data.py" in " ".join(size["notes"])


def test_a_logged_compressed_wrapper_counts_by_its_logged_size(tmp_path):
    big = CODE * 500  # 165,000 bytes of readable source shipped
    tail = ("Code size (uncompressed): 165000 bytes", "Code size (compressed): 30000 bytes")
    folder = make_record(tmp_path / "rec", model_bytes=15_950_000, tail=tail)
    (folder / "train_gpt.py").write_text(big)
    rep = check_folder(folder)
    size = rule(rep, "artifact_size")
    assert size["status"] == "pass" and size["numbers"]["bytes_total"] == 15_980_000
    assert "compressed self-extracting wrapper the logs state (30,000 bytes for 165,000 bytes of source" in size["detail"]


def test_training_clock_rules(tmp_path):
    def tt(**kw):
        return rule(check_folder(make_record(tmp_path / str(len(list(tmp_path.iterdir()))), **kw)), "train_time")

    assert tt(train_ms=600_065, step_avg=43.54)["status"] == "pass"  # 1.5 steps with the stop logged
    assert "1.5 step(s)" in tt(train_ms=600_065, step_avg=43.54)["detail"]
    assert tt(train_ms=600_131, step_avg=43.54)["status"] == "fail"  # 3 steps
    forced = tt(train_ms=600_010, step_avg=43.54, stop=False, iterations=13780)  # all iterations, no clock stop
    assert forced["status"] == "fail" and "ignored the clock" in forced["detail"]
    scaled = tt(train_ms=2_400_100, step_avg=169.4, world_size=2, wallclock=2400)
    assert scaled["status"] == "warn" and "on 2 GPUs (= 600.025 s on 8)" in scaled["detail"]
    informational = tt(train_ms=7_200_000, submission={"track": "non_record_16mb"})
    assert informational["status"] == "n/a" and "informational" in informational["detail"]


def test_calibration_on_training_data_after_the_clock_warns(tmp_path):
    tail = ("GPTQ:collecting Hessians from calibration data...", "GPTQ:collected 67 Hessians in 4.9s")
    rep = check_folder(make_record(tmp_path / "late", train_ms=599_433, tail=tail))
    cal = rule(rep, "calibration_time")
    assert cal["status"] == "warn" and "599.433 s + GPTQ calibration on training data 4.9 s = 604.3 s" in cal["detail"]
    assert rep["ok"] and rep["verdict"] == "WARN"
    ok = rule(check_folder(make_record(tmp_path / "reserve", train_ms=588_000, tail=tail)), "calibration_time")
    assert ok["status"] == "pass"
    selfgen = ("gptq:generated 64 sequences in 196.7s",)
    own = rule(check_folder(make_record(tmp_path / "selfgen", train_ms=599_900, tail=selfgen)), "calibration_time")
    assert own["status"] == "pass" and "no training data read" in own["detail"]
    pgolf_line = ("gptq_calibration batches:16 time:2500ms train_plus_calibration:601500ms budget:600000ms",)
    ours = rule(check_folder(make_record(tmp_path / "ours", train_ms=599_000, tail=pgolf_line)), "calibration_time")
    assert ours["status"] == "warn" and "601.5 s" in ours["detail"]


def test_a_trailing_extra_evaluation_is_not_the_score(tmp_path):
    extra = ("ttt_enabled:True", "final_int8_ttt val_loss:3.0742 val_bpb:1.3360 eval_time:405410ms")
    odd = official_log(3, 1.1995, _loss(1.1995), tail=extra)
    rep = check_folder(make_record(tmp_path / "rec", logs={3: odd}))
    assert rule(rep, "submission_agrees")["status"] == "pass"
    assert any("final_int8_ttt" in n and "not its score" in n for n in rep["reading"])


def test_seeds_of_other_code_fail_development_versions_warn(tmp_path):
    on = official_log(3, 1.1995, _loss(1.1995), head=(), tail=()).replace("num_layers:9 model_dim:512",
                                                                         "num_layers:9 model_dim:512 hash_embed:True")
    rep = check_folder(make_record(tmp_path / "on", logs={3: on}))
    assert rule(rep, "one_code_and_config")["status"] == "fail"
    assert "hash_embed=True, a setting the other seeds' code does not have" in rule(rep, "one_code_and_config")["detail"]
    dev = on.replace("hash_embed:True", "etlb_lr:0.05").replace("Code size: 330", "Code size: 340")
    rep = check_folder(make_record(tmp_path / "dev", logs={3: dev}))
    oc = rule(rep, "one_code_and_config")
    assert oc["status"] == "warn" and "a development version of the code" in oc["detail"]
    assert "not the file seed 3 (train_seed3.log) ran (340)" in oc["detail"]


def test_significance_readme_rule_and_maintainers_practice(tmp_path):
    ref = make_record(tmp_path / "ref", bpbs=(1.2020, 1.2030, 1.2010))
    close = make_record(tmp_path / "close", bpbs=(1.2000, 1.2008, 1.1996))  # better, not by 0.005 nats
    sig = rule(check_folder(close, against=ref), "significance")
    assert sig["status"] == "warn" and sig["numbers"]["p_welch_plain"] < 0.25 < sig["numbers"]["p_margin_nats"]
    far = make_record(tmp_path / "far", bpbs=(1.1900, 1.1905, 1.1895))
    assert rule(check_folder(far, against=ref), "significance")["status"] == "pass"
    worse = make_record(tmp_path / "worse", bpbs=(1.2040, 1.2045, 1.2035))
    assert rule(check_folder(worse, against=ref), "significance")["status"] == "fail"
    one = make_record(tmp_path / "one", seeds=(1,), bpbs=(1.19,))
    assert rule(check_folder(one, against=ref), "significance")["status"] == "warn"


def test_json_numbers_are_plain_json(tmp_path, capsys):
    from pgolf.cli import main

    folder = make_record(tmp_path / "rec")
    assert main(["check", str(folder), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["verdict"] == "PASS" and rule(rep, "artifact_size")["numbers"]["bytes_total"] == 15_000_000 + len(CODE)
