#!/usr/bin/env bash
# cs.sh -- chunk server group-commit benchmark (a measurement, never a test).
# Durable writes/s against one in-process chunk server and a 3-replica set (FORWARD), at QD1 and QD32,
# 4 KiB and 1 MiB, with WAL syncs per write (1.0 = no group commit), beside fio's local 4 KiB QD1
# buffered-write + fdatasync figure on the same disk (idle, and beside 200 MiB/s of other writes),
# and that disk's write bandwidth (1 MiB writes, fdatasync every 8 MiB). Each write run also
# reports what the disk was given to write per write (disk_kib_per_write; about 2 x 4 KiB per
# replica: WAL record, then chunklet) and the first server's mean WAL sync (wal_sync_mean_us).
# One JSON line per run on stdout.
# Reads (OPS=read): checksum-verified random reads of a 64 MiB region written first, from the primary
# (a read goes to one replica), so from the page cache.
# Env: DATA_DIR (default: bench/data, on the disk to measure; or DIR1:DIR2:DIR3, one per server, to
# give each replica its own disk: fio then measures the first), SECONDS_PER_RUN (default 10),
# OPS (default "write read").
# WAL segment recycling starts once a checkpoint has retired segments (256 MiB of WAL at the defaults),
# later than a short run gets; to measure it: WARMUP_SECONDS (same workload first, not measured),
# WAL_SEGMENT_MIB (64), WAL_CHECKPOINT_MIB (256), WAL_SPARES (4; 0 = recycling off). Each run reports
# the segments started and recycled while measured.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
IFS=: read -r -a data_dirs <<< "${DATA_DIR:-$root/bench/data}"
DATA_DIR=${data_dirs[0]} # fio's
RUN=${SECONDS_PER_RUN:-10}
mkdir -p "${data_dirs[@]}"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
log() { echo "[cs.sh $(date +%T)] $*" >&2; }

log "building chunkserver test classes"
cp_file=$(mktemp)
cleanup() {
  rm -f "$cp_file" "$DATA_DIR"/fio-cs.img "$DATA_DIR"/fio-cs-bg.img
  for dir in "${data_dirs[@]}"; do
    rm -rf "$dir"/cs-bench*
    rmdir "$dir" 2>/dev/null || true
  done
}
trap cleanup EXIT
(cd "$root" && ./mvnw -B -q -pl chunkserver -am test-compile dependency:build-classpath \
    -Dmdep.outputFile="$cp_file" -Dmdep.includeScope=test >&2)
cp="$root/chunkserver/target/classes:$root/chunkserver/target/test-classes:$(cat "$cp_file")"
props=()
[[ -n ${WARMUP_SECONDS:-} ]] && props+=("-Dbasalt.bench.warmupSeconds=$WARMUP_SECONDS")
# TLS=1: the data protocol's mutual TLS on every connection (CsBench makes a CA for the run).
# (The CA signs with the JDK's X.509 code: the same exports as the basalt launcher's up.)
[[ ${TLS:-0} == 1 ]] && props+=("-Dbasalt.bench.tls=true" "--add-exports=java.base/sun.security.x509=ALL-UNNAMED"
    "--add-exports=java.base/sun.security.util=ALL-UNNAMED")
# TLS_PROVIDER=jdk|openssl: which TLS implementation (default: BoringSSL where it loads).
[[ -n ${TLS_PROVIDER:-} ]] && props+=("-Dbasalt.tls.provider=$TLS_PROVIDER")
[[ -n ${WAL_SEGMENT_MIB:-} ]] && props+=("-Dbasalt.bench.walSegmentMiB=$WAL_SEGMENT_MIB")
[[ -n ${WAL_CHECKPOINT_MIB:-} ]] && props+=("-Dbasalt.bench.walCheckpointMiB=$WAL_CHECKPOINT_MIB")
[[ -n ${WAL_SPARES:-} ]] && props+=("-Dbasalt.bench.walSpares=$WAL_SPARES")

# The data disks' /sys stat files: each run reports what the disks were given to write (all
# replicas' WAL, chunklet data, metadata, file system), per write and per second.
disk_stats=()
for dir in "${data_dirs[@]}"; do
  dev=$((16#$(stat -c %D "$dir")))
  stat_file=/sys/dev/block/$(( (dev >> 8) & 0xfff )):$(( (dev & 0xff) | ((dev >> 12) & 0xfff00) ))/stat
  if [[ -r $stat_file && " ${disk_stats[*]} " != *" $stat_file "* ]]; then
    disk_stats+=("$stat_file")
  fi
done
if (( ${#disk_stats[@]} )); then
  props+=("-Dbasalt.bench.diskStat=$(IFS=,; echo "${disk_stats[*]}")")
fi

if command -v fio >/dev/null; then
  log "fio: 4 KiB writes, fdatasync after each, QD1 (${RUN}s)"
  iops=$(fio --name=cs-ref --filename="$DATA_DIR/fio-cs.img" --size=64m --rw=write --bs=4k --fdatasync=1 \
      --ioengine=psync --time_based=1 --runtime="$RUN" --output-format=json \
      | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))')
  echo "{\"target\":\"fio\",\"test\":\"4k_write_fdatasync_qd1\",\"writes_per_s\":$iops}"
  # The disk's write bandwidth with syncs: a ceiling for any replicated write, since each replica on
  # this disk writes every block twice (WAL, then chunklet) -- see disk_kib_per_write in the runs.
  log "fio: 1 MiB sequential writes, fdatasync every 8 MiB (${RUN}s)"
  mibs=$(fio --name=cs-ceiling --filename="$DATA_DIR/fio-cs.img" --size=1g --rw=write --bs=1m --fdatasync=8 \
      --ioengine=psync --time_based=1 --runtime="$RUN" --output-format=json \
      | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["bw"] / 1024))')
  echo "{\"target\":\"fio\",\"test\":\"1m_write_fdatasync_every_8m\",\"mib_per_s\":$mibs}"
  # The QD1 reference again with the disk busy: 200 MiB/s of direct 1 MiB writes beside it, about
  # what a 3-replica 4 KiB QD32 run gives the disk (see disk_mib_per_s). A replicated write waits for
  # syncs on a loaded disk, not on an idle one.
  log "fio: 4 KiB writes, fdatasync after each, QD1, beside 200 MiB/s of other writes (${RUN}s)"
  fio --output-format=json --name=fg --filename="$DATA_DIR/fio-cs.img" --size=64m --rw=write --bs=4k \
      --fdatasync=1 --ioengine=psync --time_based=1 --runtime="$RUN" \
      --name=bg --filename="$DATA_DIR/fio-cs-bg.img" --size=2g --rw=write --bs=1m --direct=1 --ioengine=libaio \
      --iodepth=4 --rate=200m --time_based=1 --runtime="$RUN" \
      | python3 -c 'import json,sys
jobs = {j["jobname"]: j for j in json.load(sys.stdin)["jobs"]}
fg = jobs["fg"]
print("{\"target\":\"fio\",\"test\":\"4k_write_fdatasync_qd1_beside_200mib_s\",\"writes_per_s\":%d,"
      "\"fdatasync_mean_us\":%d,\"background_mib_per_s\":%d}" % (round(fg["write"]["iops"]),
      round(fg["sync"]["lat_ns"]["mean"] / 1000), round(jobs["bg"]["write"]["bw"] / 1024)))'
  rm -f "$DATA_DIR/fio-cs-bg.img"
fi

for op in ${OPS:-write read}; do
  for replicas in 1 3; do
    for bs in 4096 1048576; do
      for qd in 1 32; do
        log "cs: $op replicas=$replicas block=$bs qd=$qd (${RUN}s)"
        "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xmx1g ${props[@]+"${props[@]}"} -cp "$cp" \
            io.basalt.chunkserver.CsBench \
            "$(IFS=:; echo "${data_dirs[*]}")" "$qd" "$RUN" "$bs" "$replicas" "$op" 2>/dev/null | grep '^{'
      done
    done
  done
done
