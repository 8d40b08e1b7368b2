#!/usr/bin/env bash
# The main job with embedded defaults: install, then run the demo on the
# bundled sample (or on EVENTS=path FORMAT=fmt if given).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
EVENTS=${EVENTS:-recsys/data/sample/online_retail_sample.csv.gz}
FORMAT=${FORMAT:-online-retail}
exec .venv/bin/recsys data inspect --events "$EVENTS" --format "$FORMAT"
