#!/usr/bin/env bash
# s3.sh -- S3 PUT and GET throughput and latency (ops/s, MiB/s, p50/p99) of Basalt's S3 gateway
# (a fresh `basalt up`, every daemon on this machine, buckets of policy $BASALT_POLICY) side by
# side in the same run with Ceph's S3 gateway (RGW, from ../shared/bench/ceph/setup.sh, its
# default rep3 data pool), for 4 KiB, 1 MiB and 64 MiB objects at 1 and 32 requests in flight.
# The load generator is bench/s3-load.java (one JVM, both targets test by test, alternating which
# goes first); see its header for the method. Not a test: nothing here asserts a speed.
#
#   bench/s3.sh                          # 8 s per phase (~10 min with the clusters' start)
#   QUICK=1 bench/s3.sh                  # 3 s per phase, 1 GiB per PUT phase at most
#   SIZES=4096 CONCURRENCY=32 bench/s3.sh
#   BASALT_POLICY=rep3 bench/s3.sh       # Basalt's bucket replicated like RGW's pool
#
# Environment: SECONDS_PER_PHASE (8), WARMUP_SECONDS (10: per phase of the 1 MiB and 4 KiB warm-up
#   rounds each target gets first, untimed), BYTES_MAX per PUT phase (2 GiB), SIZES, CONCURRENCY,
#   BASALT_POLICY (ec4+2), DATA (/tmp/s3bench-data), PORT_BASE (15000: S3 on PORT_BASE+1900),
#   CEPH_DIR (../shared/bench/ceph), CEPH_RUN_DIR (/tmp/s3bench-ceph), RGW_PORT (17480),
#   MON_PORT_V2/MON_PORT_V1 (3400/6889: not Ceph's defaults, so another engineer's Ceph is left
#   alone), OSD_SIZE (8G, sparse), NUM_OSD (3), OUT (out/s3), UP_ARGS (more options for basalt up).
# Both clusters are always stopped at the end (the trap), a failed run included.
#
# Machine caveat: everything (6 Ceph OSDs + mon + mgr + RGW, Basalt's meta + 6 chunk servers +
# gateways, and the load generator) shares this machine's cores, and other work on the machine
# slows both targets; the load average is recorded before and after. Compare the ratio column
# (same run, same moment), not absolute figures across runs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
: "${JAVA_HOME:=$(ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -1)}"
export JAVA_HOME
quick=${QUICK:-0}
seconds=${SECONDS_PER_PHASE:-$([ "$quick" = 1 ] && echo 3 || echo 8)}
warmup=${WARMUP_SECONDS:-$([ "$quick" = 1 ] && echo 5 || echo 10)}
bytes_max=${BYTES_MAX:-$([ "$quick" = 1 ] && echo $((1 << 30)) || echo $((2 << 30)))}
sizes=${SIZES:-4096,1048576,67108864}
concurrency=${CONCURRENCY:-1,32}
policy=${BASALT_POLICY:-ec4+2}
data=${DATA:-/tmp/s3bench-data}
port_base=${PORT_BASE:-15000}
s3_port=$((port_base + 1900))
ceph_dir=${CEPH_DIR:-$root/../shared/bench/ceph}
if [ ! -x "$ceph_dir/setup.sh" ]; then
    echo "s3.sh: no Ceph setup script at $ceph_dir/setup.sh; set CEPH_DIR to the directory holding setup.sh and teardown.sh" >&2
    exit 1
fi
export RUN_DIR=${CEPH_RUN_DIR:-/tmp/s3bench-ceph}
export RGW_PORT=${RGW_PORT:-17480} MON_PORT_V2=${MON_PORT_V2:-3400} MON_PORT_V1=${MON_PORT_V1:-6889}
export OSD_SIZE=${OSD_SIZE:-8G}
# Three OSDs: RGW's data pool is rep3, and each OSD is a GiB of memory on a machine whose other
# tenants already pressed the OOM killer into ending OSDs mid-run (six OSDs are setup.sh's default,
# for its EC pools, which RGW does not use). Fewer daemons on two cores favour RGW, if anyone.
export NUM_OSD=${NUM_OSD:-3}
out=${OUT:-$root/out/s3}
mkdir -p "$out"

log() { echo "[s3.sh $(date +%T)] $*" >&2; }
basalt_pid=""
cleanup() {
    local rc=$?
    if [ -n "$basalt_pid" ] && kill -0 "$basalt_pid" 2>/dev/null; then
        log "stopping basalt up (pid $basalt_pid)"
        kill -TERM "$basalt_pid"
        for _ in $(seq 1 150); do kill -0 "$basalt_pid" 2>/dev/null || break; sleep 0.2; done
    fi
    log "stopping Ceph"
    "$ceph_dir/teardown.sh" >>"$out/ceph-teardown.log" 2>&1 || log "teardown failed; see $out/ceph-teardown.log"
    rm -rf "$data"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

{
    echo "# bench/s3.sh $(date -u +%FT%TZ) on $(hostname): $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
    echo "# commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (modified)'); Basalt bucket policy $policy; RGW: $(radosgw --version 2>/dev/null | head -1)"
    echo "# $seconds s per phase after ${warmup} s warm-up phases, at most $bytes_max bytes per PUT phase; sizes $sizes; concurrency $concurrency"
    echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

log "building Basalt"
./mvnw -o -q -B package -DskipTests >"$out/build.log" 2>&1 || { tail -30 "$out/build.log" >&2; exit 1; }

log "starting Ceph (RGW on 127.0.0.1:$RGW_PORT; $RUN_DIR)"
"$ceph_dir/setup.sh" >"$out/ceph-setup.log" 2>&1 || { tail -20 "$out/ceph-setup.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$RUN_DIR/s3-keys"
rgw_endpoint=$endpoint rgw_access=$access_key rgw_secret=$secret_key

log "starting basalt up ($data, port base $port_base)"
rm -rf "$data"
# shellcheck disable=SC2086 # UP_ARGS is a list of options (e.g. --separate-cs-processes)
./basalt up --data "$data" --port-base "$port_base" ${UP_ARGS:-} >"$out/basalt-up.log" 2>&1 &
basalt_pid=$!
for _ in $(seq 1 180); do
    grep -q 'ready in' "$out/basalt-up.log" && break
    kill -0 "$basalt_pid" 2>/dev/null || { tail -20 "$out/basalt-up.log" >&2; exit 1; }
    sleep 1
done
grep -q 'ready in' "$out/basalt-up.log" || { log "basalt up not ready after 180 s"; exit 1; }
basalt_access=$(awk -F' *= *' '/aws_access_key_id/{print $2}' "$data/s3-credentials")
basalt_secret=$(awk -F' *= *' '/aws_secret_access_key/{print $2}' "$data/s3-credentials")

log "measuring"
# A small heap: the JVM's default (a quarter of RAM) lets garbage of 32 x 64 MiB requests grow the
# generator to GiBs beside two clusters (the kernel's OOM killer ended a run that way).
"$JAVA_HOME/bin/java" -Xmx1g -XX:+UseParallelGC bench/s3-load.java \
    --target "basalt=http://127.0.0.1:$s3_port,$basalt_access,$basalt_secret,bench,x-basalt-storage-policy:$policy" \
    --target "rgw=$rgw_endpoint,$rgw_access,$rgw_secret,bench" \
    --sizes "$sizes" --concurrency "$concurrency" --seconds "$seconds" --warmup-seconds "$warmup" --bytes-max "$bytes_max" \
    --tsv "$out/results.tsv" >"$out/table.md" 2> >(tee "$out/load.log" >&2)
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

cat "$out/machine.txt"
echo
cat "$out/table.md"
echo
echo "(ratio: basalt's ops/s over rgw's in the same test; results in $out)"
