#!/usr/bin/env bash
# Metadata service benchmark: ops/s and p50/p99 latency of volume create, GetChunk (allocating
# and reading an existing chunk) and heartbeats, against a 1-member and a 3-member meta group of
# real processes on loopback. Measures, never asserts. Usage:
#   bench/meta.sh [OPS_PER_PHASE (default 2000)] [CLIENT_THREADS (default 16)]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ops=${1:-2000}
threads=${2:-16}
jar="$root/cli/target/basalt-cli.jar"
lib="$root/cli/target/lib"

if [ -z "${JAVA_HOME:-}" ] || [ ! -x "$JAVA_HOME/bin/java" ]; then
    JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
fi
export JAVA_HOME
if [ ! -f "$jar" ]; then
    (cd "$root" && ./mvnw -B -q -DskipTests -pl meta,cli -am package)
fi

work=$(mktemp -d -t basalt-meta-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

java_cmd=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseZGC -Xmx512m
          -cp "$jar:$lib/*")

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run_group() {
    local members=$1 peers="" i
    for ((i = 1; i <= members; i++)); do
        peers+="${peers:+,}$i@127.0.0.1:$(free_port)"
    done
    for ((i = 1; i <= members; i++)); do
        "${java_cmd[@]}" io.basalt.cli.Main meta run --id "$i" --data "$work/g$members-m$i" \
            --peers "$peers" --snapshot-every 10000 --cs-unhealthy-after-ms 3600000 --insecure \
            >"$work/g$members-m$i.log" 2>&1 &
        pids+=($!)
    done
    "${java_cmd[@]}" io.basalt.meta.bench.MetaBench "$peers" "$ops" "$threads" "$members" \
        2> >(grep -v '^WARNING' >&2)
    for ((i = 0; i < members; i++)); do
        kill -9 "${pids[-1]}" 2>/dev/null || true
        wait "${pids[-1]}" 2>/dev/null || true
        unset 'pids[-1]'
    done
}

echo "meta bench: $ops ops per phase, $threads client threads, $(nproc) cores, $(uname -r)"
run_group 1
run_group 3
