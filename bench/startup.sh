#!/usr/bin/env bash
# Start-up benchmark: `./basalt up` time to ready (wall, and CPU of up and its daemons until
# then: the figure that survives a machine shared with other work) and the latency of admin
# verbs against the running cluster, each repeated. Measures, never asserts. Usage:
#   bench/startup.sh [ROUNDS (default 3)] [PORT_BASE (default 23000)]
# BASALT_AOT=off measures without the AOT caches; UP_ARGS adds options to up (e.g.
# UP_ARGS=--separate-cs-processes: a JVM per chunk server, as before session 23). A cold round (no caches for this build yet)
# records them; the helper that creates them after up exits is awaited before the next round,
# so round 1 is "first start after a build" and the rest are warm starts.
# Admin verbs go through hyperfine when it is installed (apt-get install hyperfine), else a loop.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=${1:-3}
port_base=${2:-23000}
basalt="$root/basalt"
work=$(mktemp -d -t basalt-startup-bench.XXXXXX)
data="$work/data"
up_pid=

cleanup() {
    if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then
        kill -TERM "$up_pid" 2>/dev/null || true
        wait "$up_pid" 2>/dev/null || true
    fi
    # Daemons stop by themselves once up is gone (their lifeline); whatever still names our
    # directory after that is killed by pid.
    local pid
    for pid in $(pgrep -f -- "$work" || true); do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Build first (and outside the measurement) if the launcher would.
"$basalt" --version >/dev/null
clk_tck=$(getconf CLK_TCK)

# CPU seconds (user + system) used so far by one process and its reaped children.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }                      # fields from 3 on; comm may hold spaces
    read -r -a fields <<<"$stat"
    echo $(( fields[11] + fields[12] ))    # utime, stime (fields 14 and 15)
}

# Waits for the AOT helper of the previous up (it creates caches after up exits).
await_cache_helper() {
    local deadline=$((SECONDS + 300))
    while pgrep -f 'io.basalt.cli.AotCache' >/dev/null && [ $SECONDS -lt $deadline ]; do
        sleep 1
    done
}

printf '%-6s %-12s %10s %10s %10s %12s\n' round caches leader_s cs_up_s ready_s cpu_s
for ((round = 1; round <= rounds; round++)); do
    await_cache_helper
    caches=$( (ls "$root"/cli/target/aot/*/*.aot 2>/dev/null || true) | wc -l)
    out="$work/up-$round.out"
    start_ns=$(date +%s%N)
    # shellcheck disable=SC2086 # UP_ARGS is a list of options
    "$basalt" up --data "$data" --port-base "$port_base" ${UP_ARGS:-} >"$out" 2>&1 &
    up_pid=$!
    until grep -q 'basalt up: ready in' "$out"; do
        if ! kill -0 "$up_pid" 2>/dev/null; then
            cat "$out" >&2
            echo "startup.sh: up exited before it was ready" >&2
            exit 1
        fi
        sleep 0.05
    done
    ready_ns=$(date +%s%N)
    ticks=$(cpu_ticks "$up_pid")
    # Hosted chunk servers share their process's pid: each process counted once.
    for pid in $(grep -o '"pid" *: *[0-9]*' "$data/cluster.json" | grep -o '[0-9]*$' | sort -u); do
        [ "$pid" = "$up_pid" ] || ticks=$((ticks + $(cpu_ticks "$pid")))
    done
    leader=$(sed -n 's/.*meta leader is member [0-9]* (\([0-9.]*\) s).*/\1/p' "$out")
    cs_up=$(sed -n 's/.* chunk servers UP (\([0-9.]*\) s).*/\1/p' "$out")
    printf '%-6s %-12s %10s %10s %10.1f %12.1f\n' "$round" "$caches roles" "$leader" "$cs_up" \
        "$(echo "($ready_ns - $start_ns) / 1000000000" | bc -l)" \
        "$(echo "$ticks / $clk_tck" | bc -l)"

    if [ "$round" -eq "$rounds" ]; then
        # Admin verbs against the running cluster (BASALT_DATA: no flags needed).
        export BASALT_DATA="$data"
        "$basalt" volume create bench1 --size 1G >/dev/null
        if command -v hyperfine >/dev/null; then
            # The verbs go through meta's local admin socket; with $BASALT_TLS_DIR they take mutual TLS
            # and Ratis' gRPC client instead (what every verb did before the socket, session 23).
            hyperfine --warmup 2 --runs 10 --style basic \
                "$basalt volume list" "$basalt status" "$basalt --version" \
                "BASALT_TLS_DIR=$data/tls/admin $basalt volume list" "BASALT_TLS_DIR=$data/tls/admin $basalt status"
        else
            for verb in "volume list" "status" "--version"; do
                start_ns=$(date +%s%N)
                for _ in 1 2 3 4 5 6 7 8 9 10; do "$basalt" $verb >/dev/null; done
                printf '%-14s %8.3f s mean of 10\n' "$verb" \
                    "$(echo "($(date +%s%N) - $start_ns) / 10000000000" | bc -l)"
            done
        fi
        # The launcher alone: its rebuild check and cache look-up, without the JVM.
        start_ns=$(date +%s%N)
        for _ in 1 2 3 4 5 6 7 8 9 10; do BASALT_LAUNCHER_DRY_RUN=1 "$basalt" status >/dev/null; done
        printf '%-14s %8.3f s mean of 10\n' "launcher only" \
            "$(echo "($(date +%s%N) - $start_ns) / 10000000000" | bc -l)"
    fi
    kill -TERM "$up_pid"
    wait "$up_pid" || true
    up_pid=
done
