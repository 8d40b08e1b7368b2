#!/usr/bin/env bash
# The main job with embedded defaults (local MLflow store ./mlflow.db, in-process
# cache, no Redis): install; inspect and evaluate the bundled sample (or
# EVENTS=path FORMAT=fmt CUTOFF=YYYY-MM-DD); then train, publish and serve it on
# http://127.0.0.1:${PORT:-8000} until Ctrl-C.
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
echo "== train, publish and serve"
exec $RECSYS demo --events "$EVENTS" --format "$FORMAT" --port "${PORT:-8000}"
