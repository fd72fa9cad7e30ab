package io.basalt.cli;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.basalt.common.io.DurableFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code DIR/cluster.json}: what {@code basalt up} started, for people and for the admin verbs,
 * which find the meta peers here when no {@code --meta} is given. Replaced whole (temp file, fsync,
 * rename) whenever a daemon starts, is ready, dies or stops; on a clean stop every pid is removed.
 *
 * <pre>
 * {"formatVersion":1, "dataDir":"/abs/basalt-data", "upPid":4242, "bind":"127.0.0.1",
 *  "portBase":7100, "metaNodes":1, "chunkServers":6, "metaPeers":"1@127.0.0.1:7101",
 *  "daemons":[{"name":"meta1","role":"meta","id":"1","pid":4250,"port":7101,
 *              "metricsPort":9831,"log":"/abs/basalt-data/logs/meta1.log",
 *              "data":"/abs/basalt-data/meta1"}, ...],
 *  "security":"tls"}
 * </pre>
 *
 * <p>{@code pid} and {@code upPid} are absent when the process is not running; {@code exitCode}
 * is present for a daemon that died while {@code up} ran. A daemon's {@code id} is its meta
 * member id or its chunk server id (absent until meta has assigned it). {@code security} is
 * {@code "tls"} (certificates under DIR/tls) or {@code "insecure"} (up --insecure); files written
 * before it existed lack it.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
record ClusterFile(int formatVersion, String dataDir, Long upPid, String bind, int portBase,
                   int metaNodes, int chunkServers, String metaPeers, List<Daemon> daemons, String security) {
    /** {@link #security} of a cluster whose data connections are mutual TLS (certificates in DATA/tls). */
    static final String SECURITY_TLS = "tls";
    /** {@link #security} of a cluster started with --insecure: plain TCP everywhere. */
    static final String SECURITY_INSECURE = "insecure";

    static final String FILE_NAME = "cluster.json";
    static final int FORMAT_VERSION = 1;
    /** Where the admin verbs look when neither --meta, $BASALT_META, --data nor $BASALT_DATA says. */
    static final String DATA_DIR_DEFAULT = "basalt-data";
    static final String DATA_ENV = "BASALT_DATA";

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(SerializationFeature.INDENT_OUTPUT);

    ClusterFile {
        daemons = List.copyOf(daemons);
    }

    @JsonInclude(JsonInclude.Include.NON_NULL)
    record Daemon(String name, String role, String id, Long pid, int port, int metricsPort,
                  String log, String data, Integer exitCode) {}

    static ObjectMapper mapper() {
        return MAPPER;
    }

    void write(Path file) throws IOException {
        DurableFiles.replaceAtomically(file, ByteBuffer.wrap(MAPPER.writeValueAsBytes(this)));
    }

    /** The file in {@code dataDir}, or null when there is none. */
    static ClusterFile readIfExists(Path dataDir) {
        Path file = dataDir.resolve(FILE_NAME);
        try {
            ClusterFile cluster = MAPPER.readValue(Files.readAllBytes(file), ClusterFile.class);
            if (cluster.formatVersion() != FORMAT_VERSION) {
                throw new UserError(file + ": formatVersion " + cluster.formatVersion()
                        + " is not one this build reads (" + FORMAT_VERSION + ")");
            }
            return cluster;
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException e) {
            // Jackson's messages run over several lines (source, location): keep the first.
            String reason = String.valueOf(e.getMessage()).lines().findFirst().orElse("");
            throw new UserError("cannot read " + file + ": " + reason + "; pass --meta, or move"
                    + " the file away and run basalt up again", e);
        }
    }

    /** Whether the cluster runs --insecure (absent: a file from before TLS, read as not insecure). */
    boolean insecure() {
        return SECURITY_INSECURE.equals(security);
    }

    /** Whether the {@code up} that wrote this file is still running. */
    boolean upRunning() {
        return upPid != null && ProcessHandle.of(upPid).map(ProcessHandle::isAlive).orElse(false);
    }
}
