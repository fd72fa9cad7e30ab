package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletRole;
import io.basalt.meta.model.ChunkletState;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.netty.buffer.Unpooled;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How a chunk server's answer is read: what is retried, what is reported to meta. */
class ChunkRetriesTest {
    private final ChunkRetries retries = new ChunkRetries(null, "vm", null, null, null, () -> false);
    private final Chunklet primary = new Chunklet(0, 3, ChunkletRole.DATA, ChunkletState.UPTODATE);

    private AttemptFailure failureOf(CsStatus status, String message) {
        DataClient.Reply reply = new DataClient.Reply(status, message, Unpooled.EMPTY_BUFFER);
        return catchThrowableOfType(AttemptFailure.class,
                () -> retries.checkReply(primary, "127.0.0.1:7601", "write", reply, null, List.of()));
    }

    @Test
    void aBusyServerIsTriedAgainAndReportedToNobody() {
        AttemptFailure failure = failureOf(CsStatus.BUSY, "WAL queue full (4096 entries): the disk is behind");
        assertThat(failure.remedy).isEqualTo(AttemptFailure.Remedy.RETRY);
        assertThat(failure.reason).isEqualTo(ChunkRetries.BUSY_REASON);
        assertThat(failure.failedCsIds).isEmpty();
    }

    @Test
    void replicasThatAnsweredBusyBehindAPrimaryOrMasterAreNotFailed() {
        AttemptFailure failure = failureOf(CsStatus.REPLICA_FAILED,
                "replica 127.0.0.1:7602 answered BUSY: WAL queue full (4096 entries): the disk is behind; "
                        + "replica 127.0.0.1:7603 answered BUSY: read queue full (ec transaction 7 aborted, "
                        + "nothing written)");
        assertThat(failure.remedy).isEqualTo(AttemptFailure.Remedy.RETRY);
        assertThat(failure.reason).isEqualTo(ChunkRetries.BUSY_REASON);
    }

    @Test
    void aServerThatIsGoingAwayIsStillReported() {
        AttemptFailure failure = failureOf(CsStatus.UNAVAILABLE, "chunk server is shutting down");
        assertThat(failure.remedy).isEqualTo(AttemptFailure.Remedy.REPORT);
        assertThat(failure.failedCsIds).containsExactly(3);
    }
}
