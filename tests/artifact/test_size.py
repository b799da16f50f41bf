import pytest

from pgolf.artifact.size import CAP_BYTES, size_report
from pgolf.errors import PgolfError


def test_size_report_arithmetic():
    r = size_report(15_000_000, 50_000, "test")
    assert r["bytes_total"] == 15_050_000 and r["headroom"] == CAP_BYTES - 15_050_000


def test_over_cap_is_an_error_unless_allowed():
    with pytest.raises(PgolfError, match="1 over"):
        size_report(CAP_BYTES - 99, 100, "test")
    assert size_report(CAP_BYTES - 99, 100, "test", allow_over_cap=True)["headroom"] == -1
    assert size_report(CAP_BYTES - 100, 100, "test")["headroom"] == 0


def test_code_bytes_are_the_packed_file_bytes():
    from pgolf.config import Config
    from pgolf.pack.builder import build_source, packed_code

    total, mods = packed_code(Config())
    assert "pgolf.train.trainer" in mods and "pgolf.model.gpt" in mods
    assert "pgolf.cli" not in mods and not any(m.endswith(".commands") for m in mods)
    assert total == len(build_source(Config().to_dict()).encode("latin-1")) > 10_000
