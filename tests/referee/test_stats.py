"""The statistics equal scipy's on fixed numbers; the CLI reports them."""

from __future__ import annotations

import json
import math

import pytest

from pgolf.cli import main
from pgolf.referee import stats

scipy_stats = pytest.importorskip("scipy.stats")

OURS = [1.0610, 1.0602, 1.0621]
REF = [1.0808, 1.0810, 1.0812, 1.0795]
TPB = 0.2664


@pytest.mark.parametrize("t", [-30.0, -3.7, -1.0, -0.2, 0.0, 0.4, 2.5, 12.0])
@pytest.mark.parametrize("df", [1, 2, 3.7, 9, 40, 300])
def test_t_cdf_equals_scipy(t, df):
    assert stats.t_cdf(t, df) == pytest.approx(scipy_stats.t.cdf(t, df), rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("a,b,x", [(0.5, 0.5, 0.3), (2.0, 3.0, 0.9), (10.0, 0.5, 0.2), (150.0, 0.5, 0.999)])
def test_betainc_equals_scipy(a, b, x):
    from scipy.special import betainc

    assert stats.betainc(a, b, x) == pytest.approx(betainc(a, b, x), rel=1e-10)


def test_one_sample_and_welch_equal_scipy():
    ref = sum(REF) / len(REF)
    margin = 0.005 / math.log(2) * TPB
    res = stats.significance(OURS, ref, TPB, REF)
    assert res["margin_bpb"] == pytest.approx(margin)
    want = scipy_stats.ttest_1samp(OURS, ref - margin, alternative="less").pvalue
    assert res["p_margin_nats"] == pytest.approx(want, rel=1e-9)
    want = scipy_stats.ttest_1samp(OURS, ref - 0.005, alternative="less").pvalue
    assert res["p_margin_bpb"] == pytest.approx(want, rel=1e-9)
    want = scipy_stats.ttest_ind(OURS, [y - margin for y in REF], equal_var=False, alternative="less").pvalue
    assert res["p_welch"] == pytest.approx(want, rel=1e-9)
    want = scipy_stats.ttest_ind(OURS, REF, equal_var=False, alternative="less").pvalue
    assert res["p_welch_plain"] == pytest.approx(want, rel=1e-9)
    assert res["std_bpb"] == pytest.approx(scipy_stats.tstd(OURS))
    assert res["n"] == 3 and res["mean_bpb"] == pytest.approx(sum(OURS) / 3)


def test_seeds_needed_is_the_first_n_below_alpha():
    gain, std = 0.0020, 0.0015
    n = stats.seeds_needed(gain, std)
    p = lambda k: scipy_stats.t.cdf(-gain * math.sqrt(k) / std, k - 1)  # noqa: E731
    assert p(n) < 0.01 <= p(n - 1)
    assert stats.seeds_needed(-0.001, std) is None


def test_sp1024_margin_is_about_0_003_bpb():
    assert stats.nats_to_bpb(0.005, 1_040_059 / 2_504_310) == pytest.approx(0.0030, abs=5e-5)


def test_stats_cli_json(capsys):
    assert main(["stats", "--bpb", *map(str, OURS), "--tokens-per-byte", str(TPB), "--against-bpb", "1.0810",
                 "--against-seeds", *map(str, REF), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("mean_bpb", "std_bpb", "n", "margin_bpb", "p_margin_nats", "p_margin_bpb", "p_welch", "seeds_needed"):
        assert key in out
    assert main(["stats", "--bpb", "1.2", "1.21", "--against-bpb", "1.3", "--json"]) == 2  # tokens per byte unknown
    assert main(["stats", "--bpb", "1.2", "1.21", "--tokens-per-byte", "0.4", "--against-bpb", "1.3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["p_welch"] is None


def test_stats_from_folders(tmp_path, capsys):
    from tests.referee.kit import make_record

    ours = make_record(tmp_path / "ours")
    ref = make_record(tmp_path / "ref", bpbs=(1.2244, 1.2250, 1.2238))
    assert main(["stats", str(ours), "--against", str(ref), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["tokens_per_byte"] == pytest.approx(0.4153, rel=1e-6)  # from the logs' val_loss and val_bpb
    assert out["p_welch"] is not None and out["reference_n"] == 3
