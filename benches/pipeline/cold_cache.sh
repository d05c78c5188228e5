#!/bin/bash
# Issue 13 (docs/PERFORMANCE.md). Run as root on a cgroup-v1 machine; it drops the page cache before each run.
# Cold-cache training on a binary file in a 512 MiB memory cgroup (v1), prefetch off and on, alternated.
# Usage: cold.sh BIN DATA ROUNDS [extra train args]
BIN=$1; DATA=$2; ROUNDS=$3; shift 3
CG=/sys/fs/cgroup/memory/sp_pipe13
mkdir -p $CG && echo 536870912 > $CG/memory.limit_in_bytes
for r in $(seq 1 $ROUNDS); do
  for p in 0 1; do
    D=$(mktemp -d); cd $D
    sync; echo 3 > /proc/sys/vm/drop_caches
    sh -c "echo \$\$ > $CG/cgroup.procs; exec env SHARDPROP_PREFETCH=$p /usr/bin/time -f 'wall %e s, max RSS %M KB' $BIN train --data $DATA --epochs 1 --no-verify --json --quiet $*" > out.json 2> err.txt
    echo "round $r prefetch=$p: $(python3 -c "import json,sys; d=json.load(open('out.json')); e=d.get('epochs',[{}])[-1] if isinstance(d.get('epochs'),list) else {}; print('%.0f ex/s, loss %.6f, digest %s' % (d['examples_per_sec'], d['train_loss'], d['params_digest']))" 2>&1) $(tail -1 err.txt)"
    cd /; rm -rf $D
  done
done
rmdir $CG
