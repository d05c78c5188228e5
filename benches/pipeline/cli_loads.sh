#!/bin/bash
# Issue 13 (docs/PERFORMANCE.md). Usage: cli_loads.sh OLD_BINARY NEW_BINARY FILE...
# Side-by-side load_seconds of `train --epochs 0`: before (main's binary) and after (this branch), alternated.
OLD=$1; NEW=$2; shift 2
for f in "$@"; do for r in 1 2 3; do
  for b in OLD NEW; do
    D=$(mktemp -d); cd $D
    s=$(chrt -f 10 ${!b} train --data $f --epochs 0 --json --quiet 2>/dev/null | python3 -c "import json,sys; print('%.3f' % json.load(sys.stdin)['load_seconds'])")
    echo "$(basename $f) round $r $b: load_seconds $s"
    cd /; rm -rf $D
  done
done; done
