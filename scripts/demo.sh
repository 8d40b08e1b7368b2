#!/usr/bin/env bash
# The main job with embedded defaults (local MLflow store ./mlflow.db, no Redis):
# install, then inspect, evaluate and train on the bundled sample
# (or on EVENTS=path FORMAT=fmt CUTOFF=YYYY-MM-DD if given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
EVENTS=${EVENTS:-recsys/data/sample/online_retail_sample.csv.gz}
FORMAT=${FORMAT:-online-retail}
SPLIT=(--split time --test-fraction 0.25)
[ -n "${CUTOFF:-}" ] && SPLIT=(--split time --cutoff "$CUTOFF")
RECSYS=.venv/bin/recsys
echo "== inspect"; $RECSYS data inspect --events "$EVENTS" --format "$FORMAT"
echo "== evaluate"; $RECSYS evaluate --events "$EVENTS" --format "$FORMAT" "${SPLIT[@]}"
echo "== train"; $RECSYS train --events "$EVENTS" --format "$FORMAT" --out artifacts/bundles
