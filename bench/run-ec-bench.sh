#!/usr/bin/env bash
# Erasure coding and CRC32C throughput: ISA-L from C, ISA-L through FFM and the pure-Java codec,
# side by side in one run (per shape: the C harness, then JMH for that shape, so the machine's
# load drifts as little as possible between the columns), repeated ROUNDS times. Prints a
# Markdown table for docs/performance.md: the best 1-second iteration of each point over all
# rounds (on a shared machine interference only ever slows a run down, so the best iteration is
# the least disturbed one), with the mean beside it. Not a test: nothing here asserts a speed.
#
#   bench/run-ec-bench.sh                 # 2 rounds of 2 warm-ups x 1 s, 3 x 1 s (~16 min)
#   ROUNDS=1 WARMUP=1 ITERATIONS=1 SHAPES=4+2 bench/run-ec-bench.sh   # quick look
#
# Needs JDK 25, libisal2 and libisal-dev (for the C harness), cc, python3.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
: "${JAVA_HOME:=/usr/lib/jvm/temurin-25-jdk-amd64}"
export JAVA_HOME
warmup=${WARMUP:-2}
iterations=${ITERATIONS:-3}
rounds=${ROUNDS:-2}
shapes=${SHAPES:-"3+2 4+2 8+3 9+3"}
out="$root/bench/target/ec-bench"
rm -rf "$out"
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
for round in $(seq "$rounds"); do
    for shape in $shapes; do
        "$out/ec_bench" "$warmup" "$iterations" 1 "$shape" | tail -n +2 >> "$out/isal-c.csv"
        jmh ErasureCodecBenchmark -p "shape=$shape" -rf json \
            -rff "$out/jmh-$shape-$round.json" > "$out/jmh-$shape-$round.log"
    done
    "$out/ec_bench" "$warmup" "$iterations" 1 crc | tail -n +2 >> "$out/isal-c.csv"
    jmh Crc32cBenchmark -rf json -rff "$out/jmh-crc-$round.json" > "$out/jmh-crc-$round.log"
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

python3 - "$out" <<'PY'
import collections, csv, glob, json, os, sys
out = sys.argv[1]
# key -> list of (mean, best) in GB/s, one per round
c = collections.defaultdict(list)
for row in csv.reader(open(os.path.join(out, "isal-c.csv"))):
    impl, op, shape, strip, mean, best = row
    c[(op, shape, int(strip))].append((float(mean), float(best)))
java = collections.defaultdict(list)
for path in glob.glob(os.path.join(out, "jmh-*.json")):
    for r in json.load(open(path)):
        name = r["benchmark"].rsplit(".", 1)[1]
        pm = r["primaryMetric"]
        samples = [x for fork in pm["rawData"] for x in fork]
        p = r.get("params", {})
        if "shape" in p:
            strips = 1 if name == "updateParity" else int(p["shape"].split("+")[0])
            scale = strips * int(p["stripBytes"]) / 1e9
            key = (p["implementation"], name, p["shape"], int(p["stripBytes"]))
        elif name == "blockChecksums1MiB":
            scale, key = (1 << 20) / 1e9, ("JDK", "crc", "-", 1 << 20)
        else:
            scale, key = 4096 / 1e9, ("JDK", "crc1", "-", 4096)
        java[key].append((pm["score"] * scale, max(samples) * scale))
def best(results):
    return max(b for _, b in results) if results else None
def mean(results):
    return sum(m for m, _ in results) / len(results) if results else None
print(open(os.path.join(out, "machine.txt")).read().strip())
print()
print("Best 1-s iteration over all rounds, GB/s of data in (mean of all iterations in brackets);")
print("encode/decode count k strips per op, updateParity the one changed strip.")
print()
print("| op | k+m | strip | ISA-L C | ISA-L via FFM | % of C | Java Vector API | % of C |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
def size(b):
    return f"{b // 1048576} MiB" if b >= 1048576 else f"{b // 1024} KiB"
for op in ("encode", "decode", "updateParity"):
    for shape in ("3+2", "4+2", "8+3", "9+3"):
        for strip in (4096, 65536, 1048576):
            base = c.get((op, shape, strip))
            if not base:
                continue
            cells = [f"{best(base):.1f} ({mean(base):.1f})"]
            for impl in ("ISAL_NATIVE", "JAVA_VECTOR"):
                v = java.get((impl, op, shape, strip))
                if not v:
                    cells += ["-", "-"]
                    continue
                cells += [f"{best(v):.1f} ({mean(v):.1f})", f"{100 * best(v) / best(base):.0f}%"]
            print(f"| {op} | {shape} | {size(strip)} | " + " | ".join(cells) + " |")
print()
print("| CRC32C, one thread | GB/s best (mean) |")
print("| --- | ---: |")
rows = [("ISA-L C `crc32_iscsi`, 4 KiB blocks of 1 MiB", c.get(("crc32c-4k-blocks", "-", 1 << 20))),
        ("`Crc32c.blockChecksums` (JDK CRC32C), 4 KiB blocks of 1 MiB", java.get(("JDK", "crc", "-", 1 << 20))),
        ("`Crc32c.checksum`, one 4 KiB block per call", java.get(("JDK", "crc1", "-", 4096)))]
for label, v in rows:
    if v:
        print(f"| {label} | {best(v):.1f} ({mean(v):.1f}) |")
PY
