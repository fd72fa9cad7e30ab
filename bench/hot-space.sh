#!/usr/bin/env bash
# hot-space.sh -- what an erasure-coded volume with the hot tier costs on disk once the freezer has
# caught up (issue #18: at most 1.6x the logical data for ec4+2), and how long the freezer takes.
#
# One fresh `basalt up` (1 meta, 6 chunk servers, the NBD gateway); two ec4+2 --hot-tier volumes of
# SIZE, each written whole with 4 KiB writes through NBD (every write smaller than a stripe, so all
# of it lands in the hot stores first): one sequentially, one in random order (fio's random map:
# every block once). Then `basalt volume info --json` every 2 s until no hot copy is left, and the
# raw bytes the chunk servers hold per logical byte, before and after.
#
# Usage: bench/hot-space.sh [SIZE]     (default 256M)
#        POLICY=ec4+2 QD=16 bench/hot-space.sh 1G
# Output in out/hot-space/ (the cluster's logs under cluster/logs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
size=${1:-256M}
policy=${POLICY:-ec4+2}
qd=${QD:-16}
out=${BENCH_DIR:-$root/out/hot-space}
mkdir -p "$out"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "hot-space: $*"; exit 1; }
command -v fio >/dev/null || die "fio is not installed (apt-get install fio)"

up_pid=
cleanup() {
    if [ -n "$up_pid" ]; then
        kill -TERM "$up_pid" 2>/dev/null || true
        # basalt up stops its daemons in order first: give it time.
        for _ in $(seq 1 600); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$up_pid" 2>/dev/null || true
        wait "$up_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$out/cluster"
base=${PORT_BASE:-27100}
"$root/basalt" up --data "$out/cluster" --port-base "$base" --no-s3 >"$out/basalt-up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 1200); do
    grep -q "basalt up: ready in" "$out/basalt-up.log" && break
    kill -0 "$up_pid" 2>/dev/null || { tail -20 "$out/basalt-up.log" >&2; die "basalt up exited; log above"; }
    sleep 0.1
done
log "$(grep 'basalt up: ready in' "$out/basalt-up.log")"
nbd_port=$((base + 3709))
admin() { "$root/basalt" "$@" --data "$out/cluster"; }

# From volume info --json: "logical raw hot unanswered" (logical: the volume's size, written whole;
# storedBytes counts only data already in stripes).
space() {
    admin volume info "$1" --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(v["sizeBytes"], v["storedRawBytes"], v["hotBytes"], v["storedUnanswered"])'
}

# raw_written: chunklets + hot copies when fio ends; raw_frozen: once no hot copy is left.
printf '%-10s %-7s %10s %12s %12s %8s %8s %9s\n' order policy logical raw_written raw_frozen ratio_w ratio_f \
    freeze_s | tee "$out/result.txt"
for order in write randwrite; do
    volume="space-$order"
    admin volume create "$volume" --size "$size" --policy "$policy" --hot-tier >/dev/null
    log "$volume: fio $order bs=4k iodepth=$qd over $size"
    fio --name="$volume" --ioengine=nbd --uri="nbd://127.0.0.1:$nbd_port/$volume" --rw="$order" --bs=4k \
        --iodepth="$qd" --size="$size" --randrepeat=0 --output="$out/fio-$order.txt" >/dev/null
    read -r data raw hot unanswered < <(space "$volume")
    [ "$unanswered" = 0 ] || log "$volume: $unanswered chunklets did not answer INFO"
    written_raw=$((raw + hot))
    start=$(date +%s.%N)
    while [ "$hot" != 0 ]; do
        sleep 2
        read -r data raw hot unanswered < <(space "$volume")
        log "$volume: $hot bytes of hot copies left"
    done
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    printf '%-10s %-7s %10s %12s %12s %8s %8s %9.1f\n' "$order" "$policy" "$data" "$written_raw" "$raw" \
        "$(echo "scale=2; $written_raw / $data" | bc)x" "$(echo "scale=2; $raw / $data" | bc)x" "$seconds" \
        | tee -a "$out/result.txt"
done
admin volume info space-write | tee -a "$out/result.txt"
