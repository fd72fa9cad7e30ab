#!/usr/bin/env bash
# Erasure coding and CRC32C throughput: ISA-L from C, ISA-L through FFM and the pure-Java codec,
# side by side in one run (per shape: the C harness, then JMH for that shape, so the machine's
# load drifts as little as possible between the columns). Prints a Markdown table for
# docs/performance.md. Not a test: nothing here asserts a speed.
#
#   bench/run-ec-bench.sh                 # 2 warm-ups x 1 s, 3 x 1 s per point (~12 min)
#   WARMUP=1 ITERATIONS=1 bench/run-ec-bench.sh   # quick look
#
# Needs JDK 25, libisal2 and libisal-dev (for the C harness), cc, python3.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
: "${JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME
warmup=${WARMUP:-2}
iterations=${ITERATIONS:-3}
shapes=${SHAPES:-"3+2 4+2 8+3 9+3"}
out="$root/bench/target/ec-bench"
mkdir -p "$out"

./mvnw -B -q -Pbench -pl bench -am package -DskipTests
cc -O2 -Wall -o "$out/ec_bench" bench/isal/ec_bench.c -lisal

cp="bench/target/basalt-bench-0.1.0-SNAPSHOT.jar:bench/target/lib/*"
jmh() {
    "$JAVA_HOME/bin/java" -cp "$cp" org.openjdk.jmh.Main "$@" -wi "$warmup" -i "$iterations" \
        -w 1 -r 1 -f 1 -foe true
}

{
    echo "# $(date -u +%FT%TZ) $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
: > "$out/isal-c.csv"
for shape in $shapes; do
    "$out/ec_bench" "$warmup" "$iterations" 1 "$shape" | tail -n +2 >> "$out/isal-c.csv"
    jmh ErasureCodecBenchmark -p "shape=$shape" -rf json -rff "$out/jmh-$shape.json" \
        > "$out/jmh-$shape.log"
done
"$out/ec_bench" "$warmup" "$iterations" 1 crc | tail -n +2 >> "$out/isal-c.csv"
jmh Crc32cBenchmark -rf json -rff "$out/jmh-crc.json" > "$out/jmh-crc.log"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

python3 - "$out" <<'PY'
import csv, glob, json, os, sys
out = sys.argv[1]
c = {}
for row in csv.reader(open(os.path.join(out, "isal-c.csv"))):
    impl, op, shape, strip, gbs = row
    c[(op, shape, int(strip))] = float(gbs)
java = {}
for path in glob.glob(os.path.join(out, "jmh-*.json")):
    for r in json.load(open(path)):
        name = r["benchmark"].rsplit(".", 1)[1]
        ops = r["primaryMetric"]["score"]
        p = r.get("params", {})
        if "shape" in p:
            k = int(p["shape"].split("+")[0])
            strip = int(p["stripBytes"])
            java[(p["implementation"], name, p["shape"], strip)] = ops * k * strip / 1e9
        elif name == "blockChecksums1MiB":
            java[("JDK", "crc", "-", 1 << 20)] = ops * (1 << 20) / 1e9
        elif name == "checksumOneBlock":
            java[("JDK", "crc1", "-", 4096)] = ops * 4096 / 1e9
print(open(os.path.join(out, "machine.txt")).read().strip())
print()
print("| op | k+m | strip | ISA-L C GB/s | ISA-L FFM GB/s (% of C) | Java Vector GB/s (% of C) |")
print("| --- | --- | ---: | ---: | ---: | ---: |")
def size(b):
    return f"{b // 1048576} MiB" if b >= 1048576 else f"{b // 1024} KiB"
for op in ("encode", "decode"):
    for shape in ("3+2", "4+2", "8+3", "9+3"):
        for strip in (4096, 65536, 1048576):
            base = c.get((op, shape, strip))
            if base is None:
                continue
            cells = []
            for impl in ("ISAL_NATIVE", "JAVA_VECTOR"):
                v = java.get((impl, op, shape, strip))
                cells.append("-" if v is None else f"{v:.2f} ({100 * v / base:.0f}%)")
            print(f"| {op} | {shape} | {size(strip)} | {base:.2f} | {cells[0]} | {cells[1]} |")
print()
print("| CRC32C | GB/s |")
print("| --- | ---: |")
if ("crc32c-4k-blocks", "-", 1 << 20) in c:
    print(f"| ISA-L C crc32_iscsi, 4 KiB blocks of 1 MiB | {c[('crc32c-4k-blocks', '-', 1 << 20)]:.2f} |")
if ("JDK", "crc", "-", 1 << 20) in java:
    print(f"| Crc32c.blockChecksums (JDK CRC32C), 4 KiB blocks of 1 MiB | {java[('JDK', 'crc', '-', 1 << 20)]:.2f} |")
if ("JDK", "crc1", "-", 4096) in java:
    print(f"| Crc32c.checksum, one 4 KiB block | {java[('JDK', 'crc1', '-', 4096)]:.2f} |")
PY
