#!/usr/bin/env bash
# thrash.sh -- the long run of the chunk server thrasher (cli/src/test/java/io/basalt/cli/it/
# Thrasher.java): kill -9 and SIGSTOP chunk servers at random for DURATION_SECONDS while fio writes
# and verifies a rep3 and an ec4+2 volume through NBD, then check that the cluster healed every
# chunk, that `basalt volume verify` finds no mismatch and that both volumes read back the same
# twice. It runs ThrashIT through Maven failsafe (the whole cluster as real processes: 1 meta
# member, 8 chunk servers on 8 host labels, the gateway), so it builds what it tests.
#
# Usage: bench/thrash.sh DURATION_SECONDS [SEED]
#   DURATION_SECONDS  how long to thrash (the check afterwards takes a few minutes more)
#   SEED              replay a run: the seed a run printed first ("thrash seed N ...");
#                     default: a new random seed
# Environment: MAX_DISTURBED=2  servers down or paused at once (default 2: rep3 and ec4+2 each
#                               tolerate two losses; the thrasher also counts chunklets not yet
#                               caught up or rebuilt, so no chunk ever has more than this lost)
#              HOT_TIER=1       the ec4+2 volume has the hot tier on (docs/hot-tier.md; the
#                               default): small writes to replicas, frozen into stripes while
#                               thrashed; HOT_TIER=0: every write to the stripes
#              SNAPSHOT_SECONDS=20  a snapshot of the next volume this often while thrashed, read
#                               whole; the one before re-read (it must not have changed), the one
#                               before that deleted and reclaimed, so fio writes and verifies over
#                               layers (ThrashSnapshots.java); 0: no snapshots
#              OUT=DIR          where the logs go (default out/thrash/SEED): thrash.log (every
#                               action, timestamped, and the summary), maven.log, and the output
#                               of every chunk server incarnation, meta and the gateway
# Exit status: 0 when the verdict is PASS.
# Example: bench/thrash.sh 3600            # an hour, two servers disturbed at a time
#          MAX_DISTURBED=1 bench/thrash.sh 600 8131231   # replay the suite's kind of run
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ $# -ge 1 ] && [[ "$1" =~ ^[0-9]+$ ]] || { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
seconds=$1
seed=${2:-$(python3 -c 'import random; print(random.getrandbits(62))')}
max_disturbed=${MAX_DISTURBED:-2}
out=${OUT:-$root/out/thrash/$seed}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# JDK 25, as ./basalt finds it.
if [ -z "${JAVA_HOME:-}" ] || ! "$JAVA_HOME/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then
    JAVA_HOME=$(ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -1)
    [ -n "$JAVA_HOME" ] || { echo "thrash.sh: JDK 25 not found; set JAVA_HOME" >&2; exit 1; }
fi
export JAVA_HOME

echo "thrash.sh: seed $seed, $seconds s, at most $max_disturbed disturbed at once; logs in $out"
cd "$root"
status=0
# -am builds the modules the test runs from this tree; only ThrashIT runs (no unit tests).
./mvnw -B -pl cli -am verify -Dtest=NoSuchTest -Dsurefire.failIfNoSpecifiedTests=false \
    -Dit.test=ThrashIT -Dfailsafe.failIfNoSpecifiedTests=false \
    -Dbasalt.thrash.seconds="$seconds" -Dbasalt.thrash.seed="$seed" \
    -Dbasalt.thrash.maxDisturbed="$max_disturbed" -Dbasalt.thrash.logDir="$out" \
    -Dbasalt.thrash.hotTier="$([ "${HOT_TIER:-1}" = 0 ] && echo false || echo true)" \
    -Dbasalt.thrash.snapshotSeconds="${SNAPSHOT_SECONDS:-20}" \
    >"$out/maven.log" 2>&1 &
mvn_pid=$!
trap 'kill -TERM "$mvn_pid" 2>/dev/null; wait "$mvn_pid" 2>/dev/null; exit 130' INT TERM
# The thrasher's own lines, live, while Maven and the daemons write everything to maven.log.
tail -n +1 -F "$out/maven.log" 2>/dev/null --pid="$mvn_pid" | grep --line-buffered '^\[thrash' || true
wait "$mvn_pid" || status=$?
if ! grep -q '^\[thrash.*verdict: ' "$out/maven.log"; then
    echo "thrash.sh: no verdict (the run did not get to the end); the end of $out/maven.log:" >&2
    tail -40 "$out/maven.log" >&2
    [ "$status" -ne 0 ] || status=1
fi
grep -q '^\[thrash.*verdict: PASS' "$out/maven.log" || [ "$status" -ne 0 ] || status=1
echo "thrash.sh: exit $status; logs in $out"
exit "$status"
