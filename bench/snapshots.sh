#!/usr/bin/env bash
# snapshots.sh -- what snapshots cost a Basalt volume (issue #17). Starts `basalt up` (1 meta member,
# 6 chunk servers, the NBD gateway) in a fresh directory, fills a volume of SIZE (POLICY), and measures
# through the gateway with fio (4k random, nbd engine, FIO_SECONDS each, after a short warm-up):
#   - writes: QD1 p50/p99 and QD32 IOPS on the plain volume (no snapshot: every block already
#     written), right after a snapshot (almost every write is the first to its block in the new
#     top layer, and the first per chunk also allocates the chunk), and after SNAPSHOTS more;
#   - reads: the same on the plain volume and on the layered one (after the snapshots most
#     blocks are read through the layers below: one BLOCK_MAP per piece and layer);
#   - snapshot create: the fence time the CLI reports (meta entry + every chunk server refusing
#     the old version) and the CLI's wall time (a JVM start included), per snapshot;
#   - volume diff from the first snapshot to the volume: wall time and extents.
# Targets in the issue: the first write after a snapshot at most 1.3x a normal one at QD1; creating
# a snapshot under 100 ms. Every process it started is stopped on exit and the data directory
# removed (KEEP=1 keeps it).
#
# Usage: bench/snapshots.sh [SIZE]        SIZE of the volume, default 1G; QUICK=1: 256M and 5 s runs
# Environment: FIO_SECONDS=10  SNAPSHOTS=10  CHUNK_SIZE=64M  POLICY=rep3 (or ec4+2: its hot tier is
# frozen at every create)  PORT_BASE=...  DATA=DIR  KEEP=1
# Needs: JDK 25 (the launcher finds it), fio (with the nbd engine), jq, python3.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=${QUICK:-0}
size=${1:-$([ "$QUICK" = 1 ] && echo 256M || echo 1G)}
FIO_SECONDS=${FIO_SECONDS:-$([ "$QUICK" = 1 ] && echo 5 || echo 10)}
SNAPSHOTS=${SNAPSHOTS:-10}
CHUNK_SIZE=${CHUNK_SIZE:-64M}
POLICY=${POLICY:-rep3}
KEEP=${KEEP:-0}

die() { printf 'snapshots.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '[snapshots %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
for tool in fio jq python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done
fio --enghelp=nbd >/dev/null 2>&1 || die "this fio has no nbd engine (fio >= 3.19 built with libnbd)"

data=${DATA:-$(mktemp -d /tmp/basalt-snapshots.XXXXXX)}
mkdir -p "$data"
up_pid=""
cleanup() {
    local status=$?
    set +e
    if [ -n "$up_pid" ]; then
        # basalt up stops its daemons in order (gateway, chunk servers, meta) on SIGTERM.
        kill -TERM "$up_pid" 2>/dev/null
        for _ in $(seq 1 600); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$up_pid" 2>/dev/null
        wait "$up_pid" 2>/dev/null
    fi
    if [ -f "$data/cluster/cluster.json" ]; then
        for pid in $(jq -r '.daemons[].pid // empty' "$data/cluster/cluster.json"); do
            if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "io.basalt.cli"; then
                kill -KILL "$pid" 2>/dev/null
            fi
        done
    fi
    if [ "$KEEP" = 1 ]; then log "kept $data"; else rm -rf "$data"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building Basalt if needed"
"$root/basalt" --version >/dev/null
base=${PORT_BASE:-$(( 20000 + (RANDOM % 2500) * 10 ))}
log "starting basalt up (port base $base)"
"$root/basalt" up --data "$data/cluster" --port-base "$base" >"$data/up.log" 2>&1 &
up_pid=$!
for _ in $(seq 1 1800); do
    grep -q "basalt up: ready in" "$data/up.log" && break
    kill -0 "$up_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q "basalt up: ready in" "$data/up.log" || { tail -30 "$data/up.log" >&2; die "basalt up did not start"; }
export BASALT_DATA="$data/cluster"
nbd_port=$(jq -r '.daemons[] | select(.role == "nbd") | .port' "$data/cluster/cluster.json")
uri="nbd://127.0.0.1:$nbd_port/vm"
basalt() { "$root/basalt" "$@"; }

basalt volume create vm --size "$size" --policy "$POLICY" --chunk-size "$CHUNK_SIZE" >/dev/null
log "filling vm ($size)"
fio --name=fill --ioengine=nbd --uri="$uri" --rw=write --bs=1m --iodepth=4 --size="$size" \
    >"$data/fill.out" 2>&1 || die "fill failed: $(tail -5 "$data/fill.out")"

run_fio() { # run_fio NAME RW QD [SECONDS]: 4k random over the whole volume, JSON to $data/NAME.json
    fio --name="$1" --ioengine=nbd --uri="$uri" --rw="$2" --bs=4k --iodepth="$3" --size="$size" \
        --time_based --runtime="${4:-$FIO_SECONDS}" --randrepeat=0 --norandommap \
        --output-format=json --output="$data/$1.json" >"$data/$1.out" 2>&1 \
        || die "fio $1 failed: $(tail -5 "$data/$1.out")"
}
snapshot() { # snapshot NAME: creates vm@NAME, appends "fence_ms wall_ms" to $data/creates
    local started ended out
    started=$(date +%s%N)
    out=$(basalt volume snapshot create "vm@$1") || die "snapshot create vm@$1 failed: $out"
    ended=$(date +%s%N)
    fence=$(sed -n 's/.*fenced in \([0-9]*\) ms.*/\1/p' <<<"$out")
    echo "${fence:-?} $(( (ended - started) / 1000000 ))" >>"$data/creates"
}

log "warm-up"
run_fio warmup randwrite 8 3
log "plain volume: randwrite QD1 and QD32, randread QD1 and QD32"
run_fio plain-w1 randwrite 1
run_fio plain-w32 randwrite 32
run_fio plain-r1 randread 1
run_fio plain-r32 randread 32
snapshot s1
log "right after a snapshot: randwrite QD1 (first writes to their blocks)"
run_fio first-w1 randwrite 1
snapshot s2
log "right after another snapshot: randwrite QD32"
run_fio first-w32 randwrite 32
log "layered volume: randread QD1 and QD32"
run_fio layered-r1 randread 1
run_fio layered-r32 randread 32
log "$SNAPSHOTS more snapshots, a little written between them"
for i in $(seq 3 $(( SNAPSHOTS + 2 ))); do
    run_fio "between-$i" randwrite 8 1
    snapshot "s$i"
done
run_fio many-w1 randwrite 1
run_fio many-w32 randwrite 32
run_fio many-r1 randread 1
log "volume diff vm@s1 vm"
started=$(date +%s%N)
basalt volume diff vm@s1 vm >"$data/diff.out" || die "diff failed: $(tail -5 "$data/diff.out")"
diff_ms=$(( ($(date +%s%N) - started) / 1000000 ))

python3 - "$data" "$size" "$CHUNK_SIZE" "$FIO_SECONDS" "$diff_ms" "$POLICY" <<'EOF'
import json, sys
data, size, chunk, seconds, diff_ms, policy = sys.argv[1:]
def fio(name):
    job = json.load(open(f"{data}/{name}.json"))["jobs"][0]
    op = job["write"] if job["write"]["io_bytes"] > 0 else job["read"]
    pct = op["clat_ns"]["percentile"]
    return op["iops"], pct["50.000000"] / 1000, pct["99.000000"] / 1000
print(f"## Basalt snapshots: {policy} volume of {size}, chunk size {chunk}, fio 4k random {seconds} s each")
print()
print("| phase | QD1 p50 | QD1 p99 | QD32 IOPS |")
print("| --- | --- | --- | --- |")
rows = [("write, plain volume", "plain-w1", "plain-w32"),
        ("write, first after a snapshot", "first-w1", "first-w32"),
        ("write, after many snapshots", "many-w1", "many-w32"),
        ("read, plain volume", "plain-r1", "plain-r32"),
        ("read, layered (through the snapshots)", "layered-r1", "layered-r32"),
        ("read, after many snapshots", "many-r1", None)]
for label, qd1, qd32 in rows:
    _, p50, p99 = fio(qd1)
    iops = f"{fio(qd32)[0]:.0f}" if qd32 else "-"
    print(f"| {label} | {p50:.0f} µs | {p99:.0f} µs | {iops} |")
w1, f1 = fio("plain-w1")[1], fio("first-w1")[1]
r1, l1 = fio("plain-r1")[1], fio("layered-r1")[1]
print()
print(f"First write after a snapshot / normal write, QD1 p50: {f1 / w1:.2f}x (target <= 1.3x);"
      f" layered read / plain read, QD1 p50: {l1 / r1:.2f}x")
creates = [line.split() for line in open(f"{data}/creates")]
fences = sorted(int(f) for f, _ in creates if f != "?")
walls = sorted(int(w) for _, w in creates)
print(f"Snapshot create ({len(creates)}): fence p50 {fences[len(fences) // 2]} ms, max {fences[-1]} ms"
      f" (target < 100 ms); CLI wall time p50 {walls[len(walls) // 2]} ms (JVM start included)")
extents = sum(1 for _ in open(f"{data}/diff.out"))
print(f"volume diff vm@s1 vm: {diff_ms} ms wall time (CLI included), {extents} lines")
EOF
