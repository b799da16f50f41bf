#!/usr/bin/env bash
# CPU side of the GPU run: gather into .gpu/ what bench/gpu_check.sh needs on the GPU machine (the
# mini data, the official root train_gpt.py, wheels for the packages the GPU image lacks), check
# that it and the checkout fit the device tool's 64 MiB, and print the device call.
# Run it in the checkout the device tool sends (the session's own), right before the call.
# Arguments pass through to `pgolf bench gpu --prepare` (--train-shards N, --no-wheels, --shared DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
PGOLF="${PGOLF:-.venv/bin/pgolf}"
[ -x "$PGOLF" ] || PGOLF="python3 -m pgolf"
exec $PGOLF bench gpu --prepare "$@"
