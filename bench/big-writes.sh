#!/usr/bin/env bash
# big-writes.sh -- 1 MiB sequential writes through the NBD gateway of one fresh `basalt up`, with
# where the CPU goes: whole-machine CPU microseconds per MiB written, each daemon's share (meta, the
# chunk servers' host process, the NBD gateway), and what the disk was given per MiB (/proc/diskstats).
# Optionally after random 4 KiB writes first (WARM_4K_SECONDS), the case that once stalled ec4+2:
# thousands of hot blocks made dead at once (docs/chunkserver.md, "Overload"). A measurement,
# never a test; compare runs of the same day (this machine is noisy: +-10% run to run).
#
# Usage: bench/big-writes.sh                  (rep3, 2 rounds of 20 s, no 4 KiB phase)
#        POLICY=ec4+2 WARM_4K_SECONDS=30 bench/big-writes.sh
# Env:   POLICY (rep3)  SIZE (1g: the volume, and the region written)  SECONDS_PER_ROUND (20)
#        ROUNDS (2)  WARM_4K_SECONDS (0)  UP_ARGS (extra `basalt up` options, e.g. --insecure)
#        DISK (the block device under the data directory, for /proc/diskstats; default: found by df)
#        OUT (where the cluster and results go; default out/big-writes)
# Output, per round: MiB/s, p99 and slowest write (ms), CPU us per MiB (machine; each daemon),
# disk MiB written per MiB, and the failure reports the gateway logged (overload must cause none).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
POLICY=${POLICY:-rep3}; SIZE=${SIZE:-1g}; SECS=${SECONDS_PER_ROUND:-20}; ROUNDS=${ROUNDS:-2}
WARM=${WARM_4K_SECONDS:-0}
OUT=${OUT:-$root/out/big-writes}
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
command -v fio >/dev/null || { echo "big-writes.sh: fio not found; apt-get install fio" >&2; exit 2; }
log() { echo "[big-writes $(date +%T)] $*" >&2; }

rm -rf "$OUT"; mkdir -p "$OUT"
DISK=${DISK:-$(basename "$(df --output=source "$OUT" | tail -1)")}
base=$((17100 + RANDOM % 200 * 10))
up_pid=
cleanup() {
    if [ -n "$up_pid" ]; then
        kill -TERM "$up_pid" 2>/dev/null || true
        wait "$up_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT
(cd "$root" && exec setsid ./basalt up --data "$OUT/data" --port-base "$base" ${UP_ARGS:-} >"$OUT/up.log" 2>&1) &
up_pid=$!
for _ in $(seq 1 120); do grep -q "ready in" "$OUT/up.log" && break; sleep 1; done
grep -q "ready in" "$OUT/up.log" || { echo "big-writes.sh: basalt up did not get ready; see $OUT/up.log" >&2; exit 1; }
(cd "$root" && ./basalt volume create big --size "$SIZE" --policy "$POLICY" --data "$OUT/data" >/dev/null)
uri=nbd://127.0.0.1:$((base + 3709))/big
log "$POLICY volume of $SIZE at $uri; filling it"
fio --name=fill --ioengine=nbd --uri="$uri" --rw=write --bs=1m --iodepth=4 --size="$SIZE" --output=/dev/null
if [ "$WARM" -gt 0 ]; then
    log "random 4 KiB reads and writes for $WARM s"
    fio --name=warm --ioengine=nbd --uri="$uri" --rw=randrw --bs=4k --iodepth=8 --size="$SIZE" --time_based \
        --runtime="$WARM" --norandommap=1 --output=/dev/null
fi

daemons() { pgrep -f -- "$OUT/data" || true; }
cpu_of() { for p in $(daemons); do awk -v p="$p" '{print p, $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done; }
machine() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
disk_sectors() { awk -v d="$DISK" '$3 == d {print $10}' /proc/diskstats; }
reports_before=0
for round in $(seq 1 "$ROUNDS"); do
    cpu_of >"$OUT/cpu0"; m0=$(machine); d0=$(disk_sectors); t0=$(date +%s.%N)
    fio --name=seq --ioengine=nbd --uri="$uri" --rw=write --bs=1m --iodepth=4 --size="$SIZE" --time_based \
        --runtime="$SECS" --output-format=json --output="$OUT/round$round.json"
    t1=$(date +%s.%N); m1=$(machine); d1=$(disk_sectors); cpu_of >"$OUT/cpu1"
    reports=$(grep -a -c "reporting chunk server" "$OUT/data/logs/nbd.log" 2>/dev/null || true)
    $PY - "$OUT" "$round" "$t0" "$t1" "$m0" "$m1" "${d0:-0}" "${d1:-0}" "$((${reports:-0} - reports_before))" <<'EOF'
import json, sys
out, rnd, t0, t1, m0, m1, d0, d1, reports = sys.argv[1:]
w = json.load(open(f"{out}/round{rnd}.json"))["jobs"][0]["write"]
mib = w["io_bytes"] / 1048576
secs = float(t1) - float(t0)
pct = w["clat_ns"]["percentile"]
line = (f"round {rnd}: {mib / secs:.1f} MiB/s, p99 {pct['99.000000'] / 1e6:.1f} ms, slowest {w['clat_ns']['max'] / 1e6:.1f} ms, "
        f"machine {(int(m1) - int(m0)) * 10000 / mib:.0f} us CPU/MiB, disk {(int(d1) - int(d0)) * 512 / 1048576 / mib:.2f} MiB/MiB, "
        f"failure reports {reports}")
before = dict(l.split() for l in open(f"{out}/cpu0"))
shares = []
for l in open(f"{out}/cpu1"):
    pid, ticks = l.split()
    if pid not in before:
        continue
    args = open(f"/proc/{pid}/cmdline").read().split("\0")
    role = next((a for a in ("meta", "host", "nbd", "s3", "up", "cs") if a in args), "?")
    role = {"host": "chunk servers", "cs": "chunk server " + pid}.get(role, role)
    shares.append(f"{role} {(int(ticks) - int(before[pid])) * 10000 / mib:.0f}")
print(line + "; per daemon (us/MiB): " + ", ".join(shares))
EOF
    reports_before=${reports:-0}
done
log "cluster, logs and fio output in $OUT"
