// recovery-probe.java -- bench/recovery.sh's eyes on meta: run as a single-file source program
// with the CLI's class path (java -cp "cli/target/basalt-cli.jar:cli/target/lib/*"
// bench/recovery-probe.java ...); no verb of `basalt` lists chunk placement, and one JVM polling
// meta costs the measured I/O far less than a `basalt status` JVM a second.
//
//   holders PEERS VOLUME...            one line per chunk server: "CS_ID COUNT_IN_VOLUME1 ...",
//                                      the chunklets it holds of each volume
//   chunks PEERS VOLUME...             every chunk of the volumes as meta has it, one a line
//   watch PEERS CS_ID DIR VOLUME...    polls meta every 250 ms from before the kill of CS_ID (whose
//                                      epoch millis the script writes to DIR/killed-at) until every
//                                      chunk of the volumes is UPTODATE and none is on CS_ID; writes
//                                      DIR/rebuild-started when the first chunklet is RECOVERING;
//                                      prints one JSON object and exits 0 (1 after DEADLINE_S).
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

class RecoveryProbe {
    public static void main(String[] args) throws Exception {
        String peers = args[1];
        // The admin certificate of the cluster (basalt up makes it; recovery.sh exports the
        // directory), or plain text for a cluster run --insecure.
        String tlsDir = System.getenv("BASALT_TLS_DIR");
        io.basalt.common.tls.TlsIdentity identity = tlsDir == null || tlsDir.isBlank() ? null
                : io.basalt.common.tls.TlsIdentity.load(Path.of(tlsDir));
        try (MetaClient meta = MetaClient.connect(peers, identity)) {
            switch (args[0]) {
                case "holders" -> holders(meta, Arrays.asList(args).subList(2, args.length));
                case "chunks" -> {
                    for (String volume : Arrays.asList(args).subList(2, args.length)) {
                        chunks(meta, volume).forEach(chunk -> System.out.println(volume + " " + chunk));
                    }
                }
                case "watch" -> System.exit(watch(meta, Integer.parseInt(args[2]), Path.of(args[3]),
                        Arrays.asList(args).subList(4, args.length)));
                default -> throw new IllegalArgumentException("unknown command " + args[0]);
            }
        }
        System.exit(0);
    }

    private static List<Chunk> chunks(MetaClient meta, String volume) {
        return meta.listChunks(meta.getVolume(volume).id());
    }

    private static void holders(MetaClient meta, List<String> volumes) {
        Map<Integer, int[]> counts = new TreeMap<>();
        for (CsView view : meta.listCs()) {
            counts.put(view.server().id(), new int[volumes.size()]);
        }
        for (int v = 0; v < volumes.size(); v++) {
            for (Chunk chunk : chunks(meta, volumes.get(v))) {
                for (Chunklet chunklet : chunk.chunklets()) {
                    counts.computeIfAbsent(chunklet.csId(), id -> new int[volumes.size()])[v]++;
                }
            }
        }
        counts.forEach((csId, perVolume) -> {
            StringBuilder line = new StringBuilder().append(csId);
            for (int count : perVolume) {
                line.append(' ').append(count);
            }
            System.out.println(line);
        });
    }

    private static int watch(MetaClient meta, int victim, Path dir, List<String> volumes) throws Exception {
        long deadlineMillis = System.currentTimeMillis() + Long.getLong("deadlineSeconds", 1800) * 1000;
        long notUpAt = 0;
        long rebuildStartedAt = 0;
        long healedAt = 0;
        long bytesPerSecondMax = 0;
        long chunklets = 0;
        long rebuiltBefore = -1;
        Path killedAtFile = dir.resolve("killed-at");
        while (System.currentTimeMillis() < deadlineMillis) {
            long now = System.currentTimeMillis();
            try {
                List<CsView> servers = meta.listCs();
                if (rebuiltBefore < 0) {
                    rebuiltBefore = rebuiltTotal(servers, victim);
                }
                boolean killed = Files.exists(killedAtFile);
                for (CsView view : servers) {
                    if (view.server().id() != victim) {
                        bytesPerSecondMax = Math.max(bytesPerSecondMax, view.recovery().bytesPerSecond());
                    } else if (killed && notUpAt == 0 && view.server().status() != CsStatus.UP) {
                        notUpAt = now;
                        System.err.println("cs " + victim + " " + view.server().status());
                    }
                }
                boolean healed = killed;
                boolean recovering = false;
                long onVictim = 0;
                for (String volume : volumes) {
                    for (Chunk chunk : chunks(meta, volume)) {
                        for (Chunklet chunklet : chunk.chunklets()) {
                            healed &= chunklet.state() == ChunkletState.UPTODATE && chunklet.csId() != victim;
                            recovering |= chunklet.state() == ChunkletState.RECOVERING;
                            onVictim += chunklet.csId() == victim ? 1 : 0;
                        }
                    }
                }
                if (!killed) {
                    chunklets = onVictim;
                }
                if (recovering && rebuildStartedAt == 0) {
                    rebuildStartedAt = now;
                    Files.writeString(dir.resolve("rebuild-started"), now + "\n");
                    System.err.println("rebuild started");
                }
                if (!killed && !Files.exists(dir.resolve("watching"))) {
                    Files.writeString(dir.resolve("watching"), now + "\n");
                }
                if (healed && notUpAt != 0) {
                    healedAt = now;
                    break;
                }
            } catch (RuntimeException e) {
                System.err.println("meta: " + e.getMessage());
            }
            Thread.sleep(250);
        }
        if (healedAt == 0) {
            System.err.println("not healed before the deadline");
            return 1;
        }
        // The servers' counters arrive with their heartbeats: give the last ones time to come.
        Thread.sleep(3000);
        long rebuilt = rebuiltTotal(meta.listCs(), victim) - rebuiltBefore;
        long killedAt = Long.parseLong(Files.readString(killedAtFile).strip());
        System.out.printf("{\"killedAtMillis\":%d,\"notUpMillis\":%d,\"rebuildStartMillis\":%d,"
                        + "\"healedMillis\":%d,\"rebuiltBytes\":%d,\"bytesPerSecondMax\":%d,"
                        + "\"victimChunklets\":%d}%n", killedAt, notUpAt - killedAt,
                rebuildStartedAt == 0 ? -1 : rebuildStartedAt - killedAt, healedAt - killedAt, rebuilt,
                bytesPerSecondMax, chunklets);
        return 0;
    }

    private static long rebuiltTotal(List<CsView> servers, int victim) {
        long total = 0;
        for (CsView view : servers) {
            if (view.server().id() != victim) {
                total += view.recovery().rebuiltBytesTotal();
            }
        }
        return total;
    }
}
