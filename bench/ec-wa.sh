#!/usr/bin/env bash
# ec-wa.sh -- write amplification of Basalt volumes: bytes the disk wrote per logical byte written,
# for rep3 and ec4+2 volumes of one fresh `basalt up` cluster, under 4 KiB random writes and 1 MiB
# sequential writes (fio's nbd engine). Measured at the block device (/proc/diskstats sectors
# written, after a sync before and after each run), so it counts everything: the WAL record, the
# apply to the chunklet file, block metadata and strip versions, and meta's RocksDB.
#
# Usage: bench/ec-wa.sh                       (64 MiB of 4k writes, 512 MiB of 1M writes)
#        RAND_BYTES=16m SEQ_BYTES=128m POLICIES="rep3 ec4+2 ec3+2" bench/ec-wa.sh
# Nothing else may write to the same disk meanwhile, or it is counted too.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${BENCH_DIR:-$root/out/ec-wa}
POLICIES=${POLICIES:-rep3 ec4+2}
RAND_BYTES=${RAND_BYTES:-64m}
SEQ_BYTES=${SEQ_BYTES:-512m}
PORT_BASE=${PORT_BASE:-27100}
mkdir -p "$out"
rm -rf "$out/cluster"
"$root/basalt" --version >/dev/null
"$root/basalt" up --data "$out/cluster" --port-base "$PORT_BASE" >"$out/up.log" 2>&1 &
up_pid=$!
trap 'kill "$up_pid" 2>/dev/null; wait "$up_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do
    grep -q "basalt up: ready in" "$out/up.log" && break
    kill -0 "$up_pid" 2>/dev/null || { tail -20 "$out/up.log" >&2; exit 1; }
    sleep 0.1
done
nbd="nbd://127.0.0.1:$((PORT_BASE + 3709))"
device=$(basename "$(df --output=source "$out/cluster" | tail -1)")
sectors() { sync; awk -v d="$device" '$3 == d {print $10}' /proc/diskstats; }
bytes() { numfmt --from=iec "${1^^}"; }

echo "## Write amplification: $(date -u +'%Y-%m-%d %H:%M UTC'), device $device, $(nproc) cores," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| policy | workload | logical MiB | disk MiB written | disk bytes per logical byte |"
echo "| --- | --- | --- | --- | --- |"
for policy in $POLICIES; do
    name="wa-${policy//[+@]/-}"
    (cd "$out" && "$root/basalt" volume create "$name" --size 1G --policy "$policy" --data "$out/cluster") >/dev/null
    for workload in "randwrite_4k:--rw=randwrite --bs=4k --iodepth=16 --norandommap=1 --size=$RAND_BYTES" \
                    "seqwrite_1m:--rw=write --bs=1m --iodepth=4 --size=$SEQ_BYTES --offset=256m"; do
        label=${workload%%:*}
        if [ "$label" = seqwrite_1m ]; then logical=$(bytes "$SEQ_BYTES"); else logical=$(bytes "$RAND_BYTES"); fi
        before=$(sectors)
        # shellcheck disable=SC2086
        fio --name="$name-$label" --ioengine=nbd --uri="$nbd/$name" ${workload#*:} --output=/dev/null
        after=$(sectors)
        written=$(( (after - before) * 512 ))
        awk -v p="$policy" -v w="$label" -v l="$logical" -v d="$written" \
            'BEGIN {printf "| %s | %s | %.0f | %.0f | %.2f |\n", p, w, l/1048576, d/1048576, d/l}'
    done
done
