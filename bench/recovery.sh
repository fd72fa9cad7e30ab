#!/usr/bin/env bash
# recovery.sh -- how a Basalt cluster heals a chunk server killed with kill -9, and what the
# rebuild costs foreground I/O. Starts `basalt up` (1 meta member, 8 chunk servers on 8 host
# labels, the NBD gateway) in a fresh directory, fills a rep3 and an ec4+2 volume of SIZE each,
# measures 4k randread and randwrite (two fio jobs side by side, QD8 each, FIO_SECONDS, fio JSON)
# on a third rep3 volume, kills one chunk server that holds chunklets of both filled volumes, runs
# the same fio jobs again as soon as the rebuild starts, and reports:
#   - time from the kill to full redundancy (every chunk of the three volumes UPTODATE, none on the
#     dead server), split into detection + grace and the rebuild itself;
#   - the rebuild rate: bytes rebuilt (the servers' heartbeat counters, and the sum of
#     basalt_cs_recovery_bytes_total{kind="rebuild"} of their metrics) / rebuild time;
#   - fio p50/p99 completion latency and IOPS, before vs during the rebuild (with how many of
#     the FIO_SECONDS overlapped the rebuild: with a small SIZE the rebuild is over sooner).
# The two jobs run at once rather than one after the other so that both meet the rebuild.
# Every process it started is stopped on exit (also on Ctrl-C or failure) and the data directory
# removed (KEEP=1 keeps it, with the daemons' logs).
#
# Usage: bench/recovery.sh [SIZE]          SIZE per filled volume, default 2G; 256M for a quick run
# Environment: GRACE_MS=10000   basalt up --recovery-grace-ms (silence of an UNHEALTHY server
#                               before its chunklets are rebuilt elsewhere; meta's default 30000)
#              CHUNK_SIZE=64M   chunk size of the volumes (more chunks: more servers rebuild)
#              FIO_SECONDS=20   each fio job
#              PROBE_SIZE=...   region of the fio volume (default: SIZE, at most 1G)
#              DATA=DIR         where the cluster lives (default: a fresh dir under /tmp)
#              KEEP=1           keep DATA afterwards
# Needs: JDK 25 (the launcher finds it), fio, jq, curl, python3.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
size=${1:-2G}
GRACE_MS=${GRACE_MS:-10000}
CHUNK_SIZE=${CHUNK_SIZE:-64M}
FIO_SECONDS=${FIO_SECONDS:-20}
KEEP=${KEEP:-0}

die() { printf 'recovery.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '[recovery %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
for tool in fio jq curl python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
done
bytes() { python3 -c 'import sys
s=sys.argv[1].upper(); u={"K":10,"M":20,"G":30,"T":40}
print(int(s[:-1]) << u[s[-1]] if s[-1] in u else int(s))' "$1"; }
size_bytes=$(bytes "$size") || die "SIZE $size: use e.g. 256M or 2G"
PROBE_SIZE=${PROBE_SIZE:-$(( size_bytes < (1 << 30) ? size_bytes : (1 << 30) ))}

data=${DATA:-$(mktemp -d /tmp/basalt-recovery.XXXXXX)}
mkdir -p "$data"
up_pid=""
watch_pid=""
cleanup() {
    local status=$?
    set +e
    [ -n "$watch_pid" ] && kill -KILL "$watch_pid" 2>/dev/null
    if [ -n "$up_pid" ]; then
        # basalt up stops its daemons in order (gateway, chunk servers, meta) on SIGTERM.
        kill -TERM "$up_pid" 2>/dev/null
        for _ in $(seq 1 600); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$up_pid" 2>/dev/null
        wait "$up_pid" 2>/dev/null
    fi
    # Daemons of ours still alive (up killed before it could stop them): by the pids it recorded,
    # if they still run Basalt (not a new process that got the pid since).
    if [ -f "$data/cluster/cluster.json" ]; then
        for pid in $(jq -r '.daemons[].pid // empty' "$data/cluster/cluster.json"); do
            if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "io.basalt.cli"; then
                kill -KILL "$pid" 2>/dev/null
            fi
        done
    fi
    if [ "$KEEP" = 1 ]; then
        log "kept $data"
    else
        rm -rf "$data"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building Basalt if needed"
"$root/basalt" --version >/dev/null
classpath="$root/cli/target/basalt-cli.jar:$root/cli/target/lib/*"
java_bin=""
for candidate in ${JAVA_HOME:+"$JAVA_HOME"} /usr/lib/jvm/temurin-25*; do
    if [ -x "$candidate/bin/java" ] && "$candidate/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then
        java_bin="$candidate/bin/java"
        break
    fi
done
[ -n "$java_bin" ] || die "JDK 25 not found (set JAVA_HOME)"
probe() { "$java_bin" -cp "$classpath" "$root/bench/recovery-probe.java" "$@"; }

# A port base whose ports (base+1 .. base+3709) are free now; up refuses busy ones anyway.
for attempt in 1 2 3 4 5; do
    base=$(( 20000 + (RANDOM % 2500) * 10 ))
    log "starting basalt up (8 chunk servers, --recovery-grace-ms $GRACE_MS, port base $base)"
    # A process per chunk server: the victim is killed alone.
    "$root/basalt" up --data "$data/cluster" --chunkservers 8 --port-base "$base" --separate-cs-processes \
        --recovery-grace-ms "$GRACE_MS" >"$data/up.log" 2>&1 &
    up_pid=$!
    for _ in $(seq 1 1800); do
        grep -q "basalt up: ready in" "$data/up.log" && break
        kill -0 "$up_pid" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "basalt up: ready in" "$data/up.log" && break
    wait "$up_pid" 2>/dev/null || true
    up_pid=""
    if grep -q "is in use" "$data/up.log" && [ "$attempt" -lt 5 ]; then
        rm -rf "$data/cluster"
        continue
    fi
    tail -30 "$data/up.log" >&2
    die "basalt up did not start; its log is above"
done
log "$(grep 'basalt up: ready in' "$data/up.log")"
export BASALT_DATA="$data/cluster"
# The probe speaks to meta as the cluster's admin (mutual TLS, unless up ran --insecure).
[ -d "$data/cluster/tls/admin" ] && export BASALT_TLS_DIR="$data/cluster/tls/admin"
cluster_json="$data/cluster/cluster.json"
peers=$(jq -r .metaPeers "$cluster_json")
nbd_port=$(jq -r '.daemons[] | select(.role == "nbd") | .port' "$cluster_json")
nbd="nbd://127.0.0.1:$nbd_port"

basalt() { "$root/basalt" "$@"; }
basalt volume create fill-rep3 --size "$size" --policy rep3 --chunk-size "$CHUNK_SIZE" >/dev/null
basalt volume create fill-ec --size "$size" --policy ec4+2 --chunk-size "$CHUNK_SIZE" >/dev/null
basalt volume create probe --size "$PROBE_SIZE" --policy rep3 --chunk-size "$CHUNK_SIZE" >/dev/null

fill() { # fill VOLUME BYTES: sequential 1M writes of fio's random data
    local started=$SECONDS
    fio --name="fill-$1" --ioengine=nbd --uri="$nbd/$1" --rw=write --bs=1m --iodepth=4 \
        --size="$2" --output-format=json --output="$data/fill-$1.json" >"$data/fill-$1.out" 2>&1 \
        || die "fio fill of $1 failed: $(tail -5 "$data/fill-$1.out")"
    log "filled $1 ($2 bytes) in $(( SECONDS - started )) s"
}
fill fill-rep3 "$size_bytes"
fill fill-ec "$size_bytes"
fill probe "$PROBE_SIZE"

run_fio() { # run_fio PHASE: 4k randread and randwrite at once, QD8 each, JSON to $data/PHASE.json
    fio --ioengine=nbd --uri="$nbd/probe" --bs=4k --iodepth=8 --size="$PROBE_SIZE" --time_based \
        --runtime="$FIO_SECONDS" --randrepeat=0 --output-format=json --output="$data/$1.json" \
        --name=randread --rw=randread --name=randwrite --rw=randwrite >"$data/$1.out" 2>&1 \
        || die "fio $1 failed: $(tail -5 "$data/$1.out")"
}
log "before: 4k randread and randwrite at once, QD8 each, $FIO_SECONDS s"
run_fio before

# The victim: the chunk server with the most chunklets of the emptier of the two volumes.
holders=$(probe holders "$peers" fill-rep3 fill-ec probe 2>"$data/probe-holders.err") \
    || die "probe holders failed: $(tail -5 "$data/probe-holders.err")"
victim=$(awk '{ m = ($2 < $3 ? $2 : $3); if (m > best) { best = m; id = $1 } } END { print id }' \
    <<<"$holders")
[ -n "$victim" ] || die "no chunk server holds chunklets of both volumes: $holders"
victim_pid=$(jq -r --arg id "$victim" '.daemons[] | select(.role == "cs" and .id == $id) | .pid' \
    "$cluster_json")
victim_name=$(jq -r --arg id "$victim" '.daemons[] | select(.role == "cs" and .id == $id) | .name' \
    "$cluster_json")
read -r _ victim_rep victim_ec victim_probe <<<"$(grep "^$victim " <<<"$holders")"
log "victim: chunk server $victim ($victim_name, pid $victim_pid): $victim_rep chunklets of fill-rep3," \
    "$victim_ec of fill-ec, $victim_probe of probe"

metrics_rebuilt() { # sum of basalt_cs_recovery_bytes_total{kind="rebuild"} over the live servers
    local total=0 port value
    for port in $(jq -r --arg id "$victim" '.daemons[] | select(.role == "cs" and .id != $id)
            | .metricsPort' "$cluster_json"); do
        value=$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^basalt_cs_recovery_bytes_total\{/ &&
            /kind="rebuild"/ { s += $NF } END { printf "%d", s }')
        total=$(( total + ${value:-0} ))
    done
    echo "$total"
}
metrics_before=$(metrics_rebuilt)

probe watch "$peers" "$victim" "$data" fill-rep3 fill-ec probe >"$data/watch.json" 2>"$data/watch.err" &
watch_pid=$!
for _ in $(seq 1 600); do
    [ -f "$data/watching" ] && break
    kill -0 "$watch_pid" 2>/dev/null || die "probe watch exited: $(tail -5 "$data/watch.err")"
    sleep 0.1
done
[ -f "$data/watching" ] || die "probe watch did not start"

kill -KILL "$victim_pid"
date +%s%3N >"$data/killed-at"
log "killed chunk server $victim with kill -9; waiting for the rebuild to start"
for _ in $(seq 1 $(( (GRACE_MS / 1000 + 120) * 10 ))); do
    [ -f "$data/rebuild-started" ] && break
    kill -0 "$watch_pid" 2>/dev/null || break
    sleep 0.1
done
[ -f "$data/rebuild-started" ] || die "no rebuild started: $(tail -5 "$data/watch.err")"
log "rebuild started; during: 4k randread and randwrite at once, QD8 each, $FIO_SECONDS s"
during_start=$(date +%s%3N)
run_fio during
during_end=$(date +%s%3N)
log "waiting for full redundancy"
wait "$watch_pid" || die "not healed: $(tail -5 "$data/watch.err")"
watch_pid=""
metrics_after=$(metrics_rebuilt)

python3 - "$data" "$size" "$CHUNK_SIZE" "$GRACE_MS" "$FIO_SECONDS" "$victim" "$victim_rep" "$victim_ec" "$victim_probe" \
    "$(( metrics_after - metrics_before ))" "$during_start" "$during_end" <<'EOF'
import json, sys
(data, size, chunk, grace_ms, fio_s, victim, rep, ec, probe, metrics_bytes,
 d_start, d_end) = sys.argv[1:]
w = json.load(open(f"{data}/watch.json"))
killed = w["killedAtMillis"]
healed_abs = killed + w["healedMillis"]
rebuild_s = (w["healedMillis"] - w["rebuildStartMillis"]) / 1000
mib = 1 << 20
def fio(phase, op):
    jobs = json.load(open(f"{data}/{phase}.json"))["jobs"]
    job = next(j for j in jobs if j["jobname"] == "rand" + op)[op]
    pct = job["clat_ns"]["percentile"]
    return job["iops"], pct["50.000000"] / 1000, pct["99.000000"] / 1000
def overlap(start, end):
    return max(0, min(end, healed_abs) - start) / 1000
print(f"## Basalt recovery: kill -9 of one chunk server (cs {victim}: {rep} chunklets of the rep3"
      f" volume, {ec} of the ec4+2 volume, {probe} of the fio volume)")
print()
print(f"SIZE {size} per volume (rep3 + ec4+2), chunk size {chunk}, 8 chunk servers, 1 meta member,"
      f" --recovery-grace-ms {grace_ms} (UNHEALTHY after meta's default 3000 ms)")
print()
print("| recovery | value |")
print("| --- | --- |")
print(f"| kill -> meta sees it not UP | {w['notUpMillis'] / 1000:.1f} s |")
print(f"| kill -> first chunklet RECOVERING (detection + grace) | {w['rebuildStartMillis'] / 1000:.1f} s |")
print(f"| rebuild (first RECOVERING -> every chunk of the 3 volumes UPTODATE, none on cs {victim}) | {rebuild_s:.1f} s |")
print(f"| **kill -> full redundancy** | **{w['healedMillis'] / 1000:.1f} s** |")
print(f"| rebuilt (heartbeats: rebuiltBytesTotal) | {w['rebuiltBytes'] / mib:.1f} MiB |")
print(f"| rebuilt (metrics: basalt_cs_recovery_bytes_total{{kind=\"rebuild\"}}) | {int(metrics_bytes) / mib:.1f} MiB |")
rate = w["rebuiltBytes"] / mib / rebuild_s if rebuild_s > 0 else float("nan")
print(f"| **rebuild rate** (rebuilt / rebuild time) | **{rate:.1f} MiB/s** |")
print(f"| highest rate one server reported (bytesPerSecond) | {w['bytesPerSecondMax'] / mib:.1f} MiB/s |")
print()
start, end = int(d_start), int(d_end)
print(f"| 4k, QD8, rep3 volume, randread and randwrite at once for {fio_s} s | IOPS | p50 | p99 |")
print("| --- | ---: | ---: | ---: |")
for op in ("read", "write"):
    for phase in ("before", "during"):
        iops, p50, p99 = fio(phase, op)
        print(f"| rand{op} {phase} | {iops:,.0f} | {p50:,.0f} us | {p99:,.0f} us |")
print()
print(f"\"during\" overlapped the rebuild for {overlap(start, end):.0f} of its {(end - start) / 1000:.0f} s.")
print()
print("Machine caveat: 2 cores shared with other engineers' builds and tests, one virtual disk under"
      " all 8 chunk servers, meta, the gateway and fio; every daemon is a JVM on the same 2 cores."
      " Read the figures as relative (before vs during), not as what Basalt does on real hardware.")
EOF
