#!/usr/bin/env bash
# volume.sh -- the fio suite against a replicated (rep3) and an erasure-coded (ec4+2) Basalt volume
# through the NBD gateway of one fresh `basalt up` (every daemon on this machine), side by side in
# the same run with qemu-nbd and
# nbdkit's file plugin exporting a plain file on the same disk.
#
# Usage: bench/volume.sh            (full: 10 s per test, 1 GiB region)
#        QUICK=1 bench/volume.sh    (3 s per test, 256 MiB)
#        VOLUME_POLICY=rep1 EC_POLICY=ec3+2 FIO_TESTS="randread_4k_qd32 seqwrite_1m_qd4" bench/volume.sh
# Everything else as bench/nbd-file.sh (which does the work); results in out/volume.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export TARGETS=${TARGETS:-basalt-volume basalt-volume-ec nbdkit-file qemu-nbd-wb}
# Eight fresh JVMs: warm them up before measuring (see WARMUP_SECONDS in nbd-file.sh).
export WARMUP_SECONDS=${WARMUP_SECONDS:-30}
export BENCH_DIR=${BENCH_DIR:-$root/out/volume}
exec "$root/bench/nbd-file.sh" "$@"
