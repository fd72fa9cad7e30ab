#!/usr/bin/env bash
# nbd-file.sh -- fio suite against `basalt nbd serve` and, side by side in the same run, the NBD
# servers a user would pick instead for one file: nbdkit's file plugin and qemu-nbd. Every server
# exports the same kind of file (sparse, on the same filesystem), each on its own port; each test
# of the suite runs on every target in turn (order rotating per test), then the summary table is
# printed (shared/bench/summarize.py).
#
# Usage (from anywhere; the repository's sibling ../shared holds the bench suite):
#   bench/nbd-file.sh                                   # full run: 10 s per test, 1 GiB region
#   QUICK=1 bench/nbd-file.sh                           # quick: 3 s per test, 256 MiB region
#   FIO_REPEATS=3 bench/nbd-file.sh                     # what BASELINES.md used
#   TARGETS="basalt nbdkit-file" FIO_TESTS="randread_4k_qd1 randwrite_4k_qd32" bench/nbd-file.sh
#
# Environment (besides everything fio-suite.sh reads: FIO_RUNTIME, FIO_RAMP, FIO_SIZE, FIO_REPEATS,
# FIO_TESTS, FIO_NUMJOBS, FIO_PREFILL):
#   QUICK=1      FIO_RUNTIME=3 FIO_RAMP=1 FIO_SIZE=256m unless set
#   TARGETS      any of: basalt basalt-threads nbdkit-file qemu-nbd-wb qemu-nbd-none-native nbdkit-memory
#                basalt-volume basalt-volume-ec (default: "basalt nbdkit-file qemu-nbd-wb")
#                basalt-threads: `nbd serve --file-io threads`, the I/O-thread path basalt falls
#                back to without io_uring (basalt itself uses io_uring when the kernel allows it)
#                basalt-volume: a fresh `basalt up` cluster (1 meta, 6 chunk servers, the NBD
#                gateway, all on this machine) and a volume of FIO_SIZE with policy $VOLUME_POLICY
#                (default rep3) through the gateway; bench/volume.sh runs it beside the others;
#                basalt-volume-ec: the same with $EC_POLICY (default ec4+2), with the hot tier
#                (the default of volume create); HOT_TIER=0: --no-hot-tier
#   BENCH_DIR    where the exported files and results go (default: <repo>/out/nbd-file; the
#                filesystem matters: keep it on the disk you mean to measure)
#   SHARED_DIR   the shared bench directory (default: <repo>/../shared)
#   WARMUP_SECONDS  per target, 4 KiB random reads and writes before the tests, not measured
#                (default 0; 30 makes the first test's figures comparable to the later ones')
#   KEEP_FILES=1 keep the exported files afterwards
#   BASALT_UP_ARGS  extra `basalt up` options for the volume targets, e.g. --insecure (no TLS
#                between gateway and chunk servers; docs/performance.md compares the two)
#   NBD_TLS=1    the volume targets through nbds:// (STARTTLS, the cluster's admin certificate)
#
# Output: BENCH_DIR/fio.jsonl (one line per test), BENCH_DIR/summary.md (the tables printed at the
# end), BENCH_DIR/<target>.log (each server's output). Speed is measured here, never asserted.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
shared=${SHARED_DIR:-$root/../shared}
suite=$shared/bench/fio-suite.sh
summarize=$shared/bench/summarize.py
[ -x "$suite" ] || { echo "nbd-file.sh: $suite not found; put the shared/ directory beside the repository or set SHARED_DIR" >&2; exit 2; }

if [ "${QUICK:-0}" = 1 ]; then
    export FIO_RUNTIME=${FIO_RUNTIME:-3} FIO_RAMP=${FIO_RAMP:-1} FIO_SIZE=${FIO_SIZE:-256m}
fi
export FIO_SIZE=${FIO_SIZE:-1g}
TARGETS=${TARGETS:-basalt nbdkit-file qemu-nbd-wb}
out=${BENCH_DIR:-$root/out/nbd-file}
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3

log() { echo "[nbd-file $(date +%T)] $*" >&2; }
die() { echo "nbd-file.sh: $*" >&2; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found; install it with: apt-get install $2"; }
need fio fio
need nbdinfo libnbd-bin
for t in $TARGETS; do
    case "$t" in
        basalt|basalt-threads|basalt-volume|basalt-volume-ec) ;;
        nbdkit-file|nbdkit-memory) need nbdkit nbdkit ;;
        qemu-nbd-wb|qemu-nbd-none-native) need qemu-nbd qemu-utils ;;
        *) die "unknown target $t (basalt basalt-threads basalt-volume basalt-volume-ec nbdkit-file qemu-nbd-wb qemu-nbd-none-native nbdkit-memory)" ;;
    esac
done

mkdir -p "$out"
rm -f "$out/fio.jsonl" "$out/summary.md"

# Servers we started, by PID; only these are stopped, whatever happens.
pids=()
files=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        # basalt up stops its daemons in order first: give it time.
        for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [ "${KEEP_FILES:-0}" != 1 ] && [ "${#files[@]}" -gt 0 ]; then
        rm -f "${files[@]}"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A fresh sparse file of FIO_SIZE for one server, in $f (not via $(...): files must be recorded
# in this shell for the cleanup).
fresh_file() {
    f="$out/$1.img"
    rm -f "$f"
    truncate -s "$FIO_SIZE" "$f"
    files+=("$f")
}

await_port() { # await_port LABEL PORT PID [EXPORT]
    local i
    for i in $(seq 1 600); do
        kill -0 "$3" 2>/dev/null || { tail -20 "$out/$1.log" >&2; die "$1 exited before serving; log above"; }
        if timeout 5 nbdinfo --size "nbd://127.0.0.1:$2/${4:-}" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    tail -20 "$out/$1.log" >&2
    die "$1 did not answer on port $2 within 60 s"
}

# Build Basalt up front (the launcher builds on first use) so its start is not timed.
if [[ " $TARGETS " == *" basalt"* ]]; then
    log "building Basalt if needed"
    "$root/basalt" --version >/dev/null
fi

uris=()
for t in $TARGETS; do
    port=$(free_port)
    case "$t" in
        basalt|basalt-threads)
            # basalt: file writes on the event loops' io_uring when the kernel allows it (the log
            # says which); basalt-threads: the I/O thread pool it falls back to, for comparison.
            fresh_file "$t"
            file_io=auto; [ "$t" = basalt-threads ] && file_io=threads
            "$root/basalt" nbd serve --file "$f" --port "$port" --bind 127.0.0.1 --metrics-port 0 \
                --file-io "$file_io" >"$out/$t.log" 2>&1 &
            ;;
        basalt-volume|basalt-volume-ec)
            # One cluster under $out/cluster for both volume targets; up prints "ready".
            if [ -z "${cluster_port:-}" ]; then
                rm -rf "$out/cluster"
                base=$(( (port / 10) * 10 ))
                [ "$base" -lt 52000 ] || base=$(( base - 13000 ))
                # shellcheck disable=SC2086 # BASALT_UP_ARGS is a list of options
                "$root/basalt" up --data "$out/cluster" --port-base "$base" ${BASALT_UP_ARGS:-} \
                    >"$out/basalt-up.log" 2>&1 &
                cluster_pid=$!
                pids+=("$cluster_pid")
                for _ in $(seq 1 1200); do
                    grep -q "basalt up: ready in" "$out/basalt-up.log" && break
                    kill -0 "$cluster_pid" 2>/dev/null \
                        || { tail -20 "$out/basalt-up.log" >&2; die "basalt up exited; log above"; }
                    sleep 0.1
                done
                log "$(grep 'basalt up: ready in' "$out/basalt-up.log")"
                cluster_port=$((base + 3709))
            fi
            port=$cluster_port
            if [ "$t" = basalt-volume ]; then
                volume=bench policy=${VOLUME_POLICY:-rep3}
            else
                volume=bench-ec policy=${EC_POLICY:-ec4+2}
            fi
            hot=(); [ "$t" = basalt-volume-ec ] && [ "${HOT_TIER:-1}" = 0 ] && hot=(--no-hot-tier)
            (cd "$out" && "$root/basalt" volume create "$volume" --size "$FIO_SIZE" \
                --policy "$policy" --data "$out/cluster" "${hot[@]}") >&2
            await_port "$t" "$port" "$cluster_pid" "$volume"
            log "$t: up pid $cluster_pid, nbd://127.0.0.1:$port/$volume ($policy)"
            if [ "${NBD_TLS:-0}" = 1 ]; then
                uris+=("$t=nbds://127.0.0.1:$port/$volume?tls-certificates=$out/cluster/tls/admin")
            else
                uris+=("$t=nbd://127.0.0.1:$port/$volume")
            fi
            continue
            ;;
        nbdkit-file)
            fresh_file nbdkit-file
            nbdkit --foreground --exit-with-parent --port "$port" --ipaddr 127.0.0.1 file "$f" \
                >"$out/$t.log" 2>&1 &
            ;;
        nbdkit-memory)
            nbdkit --foreground --exit-with-parent --port "$port" --ipaddr 127.0.0.1 memory "$FIO_SIZE" \
                >"$out/$t.log" 2>&1 &
            ;;
        qemu-nbd-wb)
            fresh_file qemu-nbd-wb
            qemu-nbd --format=raw --bind=127.0.0.1 --port="$port" --persistent \
                --shared=16 --cache=writeback --discard=unmap "$f" >"$out/$t.log" 2>&1 &
            ;;
        qemu-nbd-none-native)
            fresh_file qemu-nbd-none-native
            qemu-nbd --format=raw --bind=127.0.0.1 --port="$port" --persistent \
                --shared=16 --cache=none --aio=native --discard=unmap "$f" >"$out/$t.log" 2>&1 &
            ;;
    esac
    pid=$!
    pids+=("$pid")
    await_port "$t" "$port" "$pid"
    log "$t: pid $pid, nbd://127.0.0.1:$port/"
    uris+=("$t=nbd://127.0.0.1:$port/")
done

{
    echo "## NBD file export: $(date -u +'%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
        "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)," \
        "files on $(df -T "$out" | awk 'NR==2 {print $2}') ($out); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Versions: $(fio --version), nbdkit $(nbdkit --version 2>/dev/null | awk '{print $2}')," \
        "$(qemu-nbd --version 2>/dev/null | head -1), $("$root/basalt" --version 2>/dev/null | head -1)."
    echo "Settings: FIO_RUNTIME=${FIO_RUNTIME:-10} FIO_RAMP=${FIO_RAMP:-1} FIO_SIZE=$FIO_SIZE" \
        "FIO_REPEATS=${FIO_REPEATS:-1} FIO_NUMJOBS=${FIO_NUMJOBS:-1} WARMUP_SECONDS=${WARMUP_SECONDS:-0} targets: $TARGETS."
    echo "Shared, noisy machines: compare ratios within this run, not absolute numbers across runs."
    echo
} >"$out/summary.md"

# One suite call per test with every target, rotating the target order from test to test, so
# that load from the other tenants of a shared machine and JIT warm-up do not all land on whichever
# target would otherwise run first. The first call prefills every target (and warms it up).
tests=${FIO_TESTS:-$(sed -n 's/^ALL_TESTS="\(.*\)"$/\1/p' "$suite")}
[ -n "$tests" ] || die "cannot read the test list (ALL_TESTS) from $suite; set FIO_TESTS"
prefill=${FIO_PREFILL:-1}
: >"$out/fio.jsonl"
# JIT warm-up beyond the prefill's 1 MiB writes: small random writes and reads on every target, not
# measured (the first minute of a fresh JVM is much slower, and would land on the first test).
if [ "${WARMUP_SECONDS:-0}" -gt 0 ]; then
    for target in "${uris[@]}"; do
        uri=${target#*=}
        log "warm-up ${WARMUP_SECONDS}s: $target"
        fio --name=warmup --ioengine=nbd --uri="$uri" --rw=randrw --bs=4k --iodepth=8 --size="$FIO_SIZE" \
            --time_based --runtime="$WARMUP_SECONDS" --norandommap=1 >/dev/null 2>&1 \
            || log "warm-up of $uri failed (the tests will report it)"
    done
fi
for test in $tests; do
    log "$test on: ${uris[*]}"
    FIO_TESTS=$test FIO_PREFILL=$prefill "$suite" "${uris[@]}" >>"$out/fio.jsonl"
    prefill=0
    uris=("${uris[@]:1}" "${uris[0]}")
done
"$PY" "$summarize" "$out" >>"$out/summary.md"
cat "$out/summary.md"
log "results in $out (fio.jsonl, summary.md, <target>.log)"
