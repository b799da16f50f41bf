#!/usr/bin/env bash
# The GPU evidence in one run (about 8 minutes on one H100 or H200): `pgolf bench gpu`.
#
# What the GPU machine needs besides the checkout, all in the git-ignored folder .gpu/, made on
# the CPU side by `bash bench/gpu_prepare.sh` in the checkout the device tool sends:
#   .gpu/fineweb-mini/datasets/           sp1024 mini data: tokenizer, val, first train shard
#   .gpu/fineweb-mini-caseops/datasets/   CaseOps sp8192 mini data: tokenizer, train, val, val bytes
#   .gpu/reference/train_gpt.py           the official root train_gpt.py (naive baseline)
#   .gpu/wheels/*.whl                     packages the GPU image lacks (zstandard, brotli), cp312
#   .gpu/prepared.json                    the commit and bytes it was prepared with
# The image already has torch, triton, numpy, sentencepiece, tqdm, huggingface_hub, pytest, scipy.
#
# The device call (one line; carry names the prepared folder):
#   run(command="bash bench/gpu_check.sh", carry=[".gpu"], timeout_s=560)
# Results land in $OUT (at most 8 files): one JSON per measurement, gpu-check.log, gpu-logs.tar.gz.
# Afterwards, here: `pgolf bench gpu --collect <files_at>` copies them into bench/results and
# regenerates bench/README.md.
#
# Arguments pass through to `pgolf bench gpu` (e.g. --dry-run, --only official,pgolf-baseline,
# --budget 200). PYTHON picks the interpreter (default python3, the GPU image's torch Python).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if compgen -G ".gpu/wheels/*.whl" >/dev/null; then
    SITE="${TMPDIR:-/tmp}/pgolf-site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .gpu/wheels/*.whl \
        && export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}" \
        || echo "gpu_check: installing .gpu/wheels failed; phases that need them will say so" >&2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT_DIR="${OUT:-runs/gpu-check-$(date +%Y%m%d-%H%M%S)}"
exec "$PY" -m pgolf bench gpu --out "$OUT_DIR" "$@"
