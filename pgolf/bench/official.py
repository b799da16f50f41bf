"""The official root ``train_gpt.py`` beside ``pgolf train --preset baseline``: one set of
settings for both, and the log lines both print.

Every setting is given once, under the ``Config`` field name; the official script reads the
same value from the environment variable of the upper-case name (``iterations`` ->
``ITERATIONS``), since the Config's field names are those variables' names. Both scripts then
print the same training-log lines (``step:N/I train_loss:... train_time:...ms step_avg:...ms``,
``step:N/I val_loss:... val_bpb:...``, ``final_<scheme>_roundtrip ...``), so one parser reads
either log and the two runs are compared number for number.
"""

from __future__ import annotations

import re
from pathlib import Path

LOG_EVERY = 10  # both scripts log steps 1..10 and every 10th, so the steady window is steps 10..N


# The shape both scripts are given explicitly (the official defaults, and the baseline preset's).
SHAPE_FIELDS = ("vocab_size", "num_layers", "model_dim", "num_heads", "num_kv_heads", "mlp_mult",
                "train_seq_len", "train_batch_tokens")


def shared_settings(steps: int, warmup_steps: int, shape=None, log_every: int = LOG_EVERY, seed: int = 1337) -> dict:
    """Settings both scripts run with: a fixed step count, no clock, constant LR, one val at the end,
    and the model and batch shape of ``shape`` (a Config) when given.

    No clock and no warm-down make the run deterministic in its steps (the official warm-down
    would otherwise follow the wall clock); the loss after ``steps`` steps is then comparable.
    """
    out = {k: getattr(shape, k) for k in SHAPE_FIELDS} if shape is not None else {}
    out.update(iterations=steps, warmup_steps=warmup_steps, warmdown_iters=0, max_wallclock_seconds=0,
               val_loss_every=0, train_log_every=log_every, seed=seed)
    return out


def env_value(v) -> str:
    """A value as the official script parses it: ``int(...)`` fields reject ``"2.0"``."""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def official_env(settings: dict, data_dir: str | Path, tokenizer: str | Path, run_id: str) -> dict[str, str]:
    """Environment variables that make the official script run ``settings`` on this data."""
    env = {k.upper(): env_value(v) for k, v in settings.items()}
    env.update(DATA_PATH=str(data_dir), TOKENIZER_PATH=str(tokenizer), RUN_ID=run_id)
    return env


def pgolf_overrides(settings: dict) -> list[str]:
    """The same settings as ``key=value`` arguments of ``pgolf train``."""
    return [f"{k}={v}" for k, v in settings.items()]


_NUM = r"([-+0-9.eEinfa]+)"  # a float as either script prints it (nan and inf included)
TRAIN_LINE = re.compile(rf"^step:(\d+)/(\d+) train_loss:{_NUM} train_time:([\d.]+)ms step_avg:([\d.]+)ms")
VAL_LINE = re.compile(rf"^step:(\d+)/(\d+) val_loss:{_NUM} val_bpb:{_NUM} train_time:([\d.]+)ms")
ROUNDTRIP_LINE = re.compile(rf"^final_(\S+)_roundtrip val_loss:{_NUM} val_bpb:{_NUM} eval_time:([\d.]+)ms")
EXACT_LINE = re.compile(rf"^final_(\S+)_roundtrip_exact val_loss:{_NUM} val_bpb:{_NUM}")
PEAK_LINE = re.compile(r"^peak memory allocated: (\d+) MiB")
PARAMS_LINE = re.compile(r"model_params:(\d+)")
MODEL_LINE = re.compile(r"^Serialized model (\S+): (\d+) bytes")
TOTAL_LINE = re.compile(r"^Total submission size (\S+): (\d+) bytes")
CODE_LINE = re.compile(r"^Code size: (\d+) bytes")
WARMUP_LINE = re.compile(r"warmup_time:(\d+)ms")
GPTQ_LINE = re.compile(r"^gptq_calibration batches:(\d+) time:(\d+)ms")


def parse_log(text: str) -> dict:
    """Every number the two scripts' logs share; keys are absent when their line is."""
    train, val = [], []
    out: dict = {}
    for line in text.splitlines():
        line = line.strip()
        if m := TRAIN_LINE.match(line):
            train.append(dict(step=int(m[1]), train_loss=float(m[3]), train_time_ms=float(m[4])))
            out["iterations"] = int(m[2])
        elif m := VAL_LINE.match(line):
            val.append(dict(step=int(m[1]), val_loss=float(m[3]), val_bpb=float(m[4]), train_time_ms=float(m[5])))
        elif m := ROUNDTRIP_LINE.match(line):
            out.update(roundtrip_scheme=m[1], roundtrip_val_loss=float(m[2]), roundtrip_val_bpb=float(m[3]),
                       roundtrip_eval_ms=float(m[4]))
        elif m := EXACT_LINE.match(line):  # 8 decimals: preferred over the 4-decimal line
            out.update(roundtrip_val_loss=float(m[2]), roundtrip_val_bpb=float(m[3]))
        elif m := PEAK_LINE.match(line):
            out["peak_memory_mib"] = int(m[1])
        elif m := MODEL_LINE.match(line):
            out["bytes_model"] = int(m[2])
        elif m := TOTAL_LINE.match(line):
            out["bytes_total"] = int(m[2])
        elif m := CODE_LINE.match(line):
            out["bytes_code"] = int(m[1])
        elif m := GPTQ_LINE.match(line):
            out["gptq_calibration_ms"] = int(m[2])
        if (m := PARAMS_LINE.search(line)) and "model_params" not in out:
            out["model_params"] = int(m[1])
        if m := WARMUP_LINE.search(line):
            out["warmup_ms"] = int(m[1])
    if train:
        last = train[-1]
        out.update(train=train, steps=last["step"], train_loss=last["train_loss"], train_time_ms=last["train_time_ms"],
                   train_loss_step=last["step"])
    if val:  # the final val line names the last step, logged as a train step or not
        out.update(val_loss=val[-1]["val_loss"], val_bpb=val[-1]["val_bpb"], val_step=val[-1]["step"])
        if val[-1]["step"] >= out.get("steps", 0):
            out.update(steps=val[-1]["step"], train_time_ms=val[-1]["train_time_ms"])
    return out


def steady_step_ms(train: list[dict], after: int = LOG_EVERY) -> dict | None:
    """Mean step time between the first logged step >= ``after`` and the last logged step.

    The first steps carry one-off costs (allocations, the first data reads); both scripts log
    the same steps, so the same window is timed on both sides.
    """
    pts = sorted(train, key=lambda p: p["step"])
    start = next((p for p in pts if p["step"] >= after), None)
    if start is None or pts[-1]["step"] <= start["step"]:
        return None
    end = pts[-1]
    return dict(ms=(end["train_time_ms"] - start["train_time_ms"]) / (end["step"] - start["step"]),
                from_step=start["step"], to_step=end["step"])


def summarize(parsed: dict, after: int = LOG_EVERY) -> dict:
    """The parsed log with its steady step time (and the whole-run average) added."""
    out = {k: v for k, v in parsed.items() if k != "train"}
    if parsed.get("train"):
        out["steady"] = steady_step_ms(parsed["train"], after)
        out["mean_step_ms"] = parsed["train_time_ms"] / max(parsed["steps"], 1)
    return out


def compare(official: dict, ours: dict) -> dict:
    """Ratios of the two summarized runs: step time official / pgolf (> 1: pgolf is faster)."""
    out: dict = {}
    a, b = (official.get("steady") or {}), (ours.get("steady") or {})
    if a.get("ms") and b.get("ms"):
        out["step_time_ratio"] = a["ms"] / b["ms"]
        out["same_window"] = (a["from_step"], a["to_step"]) == (b["from_step"], b["to_step"])
    for key in ("train_loss", "val_loss", "val_bpb", "roundtrip_val_bpb"):
        if key in official and key in ours:
            out[f"{key}_delta"] = ours[key] - official[key]
    if official.get("steps") is not None and ours.get("steps") is not None:
        out["same_steps"] = official["steps"] == ours["steps"]
    return out
