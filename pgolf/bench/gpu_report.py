"""The README's view of `pgolf bench gpu`: the official anchors, then per device the latest GPU
check (phases, tests, the side-by-side with the official script, the record run and its size)."""

from __future__ import annotations

from pathlib import Path

# The official numbers the GPU results are read against (not measured by this project).
ANCHOR_BASELINE_1XH100_STEP_MS = 524.8  # per 524,288-token step, naive baseline on one H100 (PR #1713)
ANCHOR_BASELINE_8XH100_STEP_MS = 43.54
ANCHOR_RECORD_TOKENS_PER_STEP = 786_432
ANCHOR_RECORD_STEPS = 4_932

ANCHORS = [
    ("official naive baseline, 1×H100", f"{ANCHOR_BASELINE_1XH100_STEP_MS} ms per 524,288-token step; "
     "1,145 steps in 10 min; val_bpb 1.3479", "PR #1713"),
    ("official baseline, 8×H100", f"{ANCHOR_BASELINE_8XH100_STEP_MS} ms per 524,288-token step (13,780 steps in 600 s)",
     "records/track_10min_16mb/2026-03-17_NaiveBaseline/train.log"),
    ("1.0611 record, 8×H100", f"{ANCHOR_RECORD_TOKENS_PER_STEP:,} tokens per step; {ANCHOR_RECORD_STEPS:,} steps "
     f"in the clock (train_time 599,433 ms: ≈ {599_433 / ANCHOR_RECORD_STEPS:.1f} ms per step)",
     "records/track_10min_16mb/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611/train_seed0.log"),
]


def anchor_lines() -> list[str]:
    lines = ["## Anchors: the official numbers the GPU results are read against\n",
             "| run | official measurement | source |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in ANCHORS]
    return lines + [""]


def _f(x, fmt: str, none: str = "–") -> str:
    return none if x is None else format(x, fmt)


def _value(v) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:,}" if isinstance(v, int) else f"{v:.4g}"


def _latest(items: list[tuple[Path, dict]], kind: str) -> tuple[Path, dict] | None:
    found = [(p, d) for p, d in items if d["kind"] == kind]
    return max(found, key=lambda pd: (pd[1]["created"], pd[0].name)) if found else None


def _side_rows(doc: dict) -> list[str]:
    s = doc["settings"]
    lines = [f"Side by side on this GPU, same shapes and settings ({s['iterations']} steps after "
             f"{s['warmup_steps']} compile warm-up steps, no clock, constant LR, seed {s['seed']}; "
             f"ms/step over steps {doc.get('steady_from_step')}→{s['iterations']}):\n",
             "| script | ms/step | train_loss | val_loss | val_bpb | round-trip val_bpb | peak memory | wall s | status |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in (("official train_gpt.py", doc.get("official")), ("pgolf train --preset baseline", doc.get("pgolf"))):
        if not r:
            lines.append(f"| {name} | not run ||||||||")
            continue
        if "skipped" in r:
            lines.append(f"| {name} | skipped: {r['skipped']} ||||||||")
            continue
        steady = (r.get("steady") or {}).get("ms")
        lines.append(f"| {name} | {_f(steady, '.1f')} | {_f(r.get('train_loss'), '.4f')} | {_f(r.get('val_loss'), '.4f')} | "
                     f"{_f(r.get('val_bpb'), '.4f')} | {_f(r.get('roundtrip_val_bpb'), '.4f')} | "
                     f"{_f(r.get('peak_memory_mib'), ',')}{' MiB' if r.get('peak_memory_mib') else ''} | "
                     f"{_f(r.get('seconds'), '.0f')} | {r.get('status')} |")
    cmp_ = doc.get("compare") or {}
    off_ms = ((doc.get("official") or {}).get("steady") or {}).get("ms")
    notes = []
    if "step_time_ratio" in cmp_:
        notes.append(f"step time official / pgolf = **{cmp_['step_time_ratio']:.3f}** (> 1: pgolf is faster)")
    if off_ms:
        notes.append(f"the official script here is {off_ms / ANCHOR_BASELINE_1XH100_STEP_MS:.3f}× its "
                     f"{ANCHOR_BASELINE_1XH100_STEP_MS} ms anchor on 1×H100")
    if "val_bpb_delta" in cmp_:
        notes.append(f"val_bpb pgolf − official = {cmp_['val_bpb_delta']:+.4f}")
    return lines + ([""] + ["; ".join(notes) + "."] if notes else []) + [""]


def _record_rows(doc: dict, step_record: dict | None) -> list[str]:
    r, size = doc.get("result") or {}, doc.get("size") or {}
    steady = (r.get("steady") or {}).get("ms") or r.get("mean_step_ms")
    pred = size.get("predicted_bytes")
    lines = ["Record run on the mini CaseOps data, exported:\n",
             "| clock s | steps | ms/step | tokens/step | model bytes | code bytes | total bytes | headroom | "
             "size model predicted (error) | round-trip val_bpb | status |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    total = r.get("bytes_total") or size.get("bytes_total")
    head = r.get("headroom", size.get("headroom"))
    pred_txt = f"{pred:,} ({100 * size['prediction_error']:+.1f}%)" if pred is not None else "–"
    lines.append(f"| {_f(r.get('clock_s'), '.0f')} | {_f(r.get('steps'), ',')} | {_f(steady, '.1f')} | "
                 f"{_f(r.get('train_batch_tokens'), ',')} | {_f(r.get('bytes_model') or size.get('bytes_model'), ',')} | "
                 f"{_f(r.get('bytes_code') or size.get('bytes_code'), ',')} | {_f(total, ',')} | {_f(head, ',')} | "
                 f"{pred_txt} | {_f(r.get('roundtrip_val_bpb'), '.4f')} | {r.get('status', '–')} |")
    proj = (step_record or {}).get("projection") or {}
    if proj.get("valid"):
        lines += ["", f"`bench step --preset record` projects {proj['steps']:,} steps in 600 s on 8×H100 "
                  f"(efficiency {proj['dp_efficiency']:.2f}) against the record's {ANCHOR_RECORD_STEPS:,}."]
    return lines + [""]


def gpu_section(items: list[tuple[Path, dict]]) -> list[str]:
    """Lines for one device's latest GPU check (empty when it has none)."""
    latest = _latest(items, "gpu-check")
    if latest is None:
        return []
    p, chk = latest
    m = chk["machine"]
    out = [f"### GPU check ([{p.name}](results/{p.name}), {chk['created'][:10]}, {m.get('label')}, commit {chk['commit']}"
           + (", **dry run: not a measurement**" if chk.get("dry_run") else "") + ")\n",
           f"{chk.get('seconds', 0):.0f} s of a {chk.get('budget_s', 0):.0f} s budget; torch {m.get('torch')}, "
           f"CUDA {m.get('cuda')}, driver {m.get('driver') or '–'}.\n",
           "| phase | status | seconds | timeout | note |", "|---|---|---:|---:|---|"]
    for r in chk.get("phases", []):
        out.append(f"| {r['name']} | {r['status']} | {_f(r.get('seconds'), '.0f')} | {r['timeout_s']:.0f} | "
                   f"{(r.get('reason') or '').replace('|', '/')[:200]} |")
    out.append("")
    tests = _latest(items, "gpu-tests")
    if tests:
        t = tests[1]
        counts = ", ".join(f"{v} {k}" for k, v in t["counts"].items() if v)
        out.append(f"`pytest -m gpu`: {counts or 'no tests'} ({t['status']}).")
        for case in t["tests"]:
            if case["outcome"] in ("failed", "error"):
                out.append(f"- {case['outcome']}: `{case['name']}`: {case['message'][:200]}")
        props = [(c["name"].split("::")[-1], k, v) for c in t["tests"] for k, v in (c.get("properties") or {}).items()]
        if props:
            out += ["", "| test | measured | value |", "|---|---|---:|"]
            out += [f"| {n} | {k} | {_value(v)} |" for n, k, v in props]
        out.append("")
    side = _latest(items, "gpu-side-by-side")
    if side:
        out += _side_rows(side[1])
    rec = _latest(items, "gpu-record-run")
    if rec:
        step = [d for _, d in items if d["kind"] == "step" and d.get("preset") == "record"]
        out += _record_rows(rec[1], max(step, key=lambda d: d["created"]) if step else None)
    return out
