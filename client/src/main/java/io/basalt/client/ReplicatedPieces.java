package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Pieces of a replicated chunk (see {@link VolumeDevice}'s design note): reads from the primary,
 * writes to the primary as FORWARD naming the other replicas that take writes (it answers when
 * every one has it durable), trims and zeroes to every replica that takes writes.
 */
final class ReplicatedPieces implements ChunkPieces {
    private final ClusterClient cluster;
    private final ByteBufAllocator alloc;
    private final ChunkRetries retries;

    ReplicatedPieces(ClusterClient cluster, ByteBufAllocator alloc, ChunkRetries retries) {
        this.cluster = cluster;
        this.alloc = alloc;
        this.retries = retries;
    }

    @Override
    public Chunklet presenceSource(Chunk chunk) {
        return ChunkRoles.primary(chunk);
    }

    @Override
    public CompletableFuture<Void> read(Chunk chunk, long chunkOffset, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        Chunklet source = ChunkRoles.primary(chunk);
        return cluster.directory().address(source.csId()).thenCompose(address ->
                cluster.connections().request(address, DataFrame.TYPE_READ, chunk.uid(), chunk.version(),
                        chunkOffset, lengthBytes, null)
                        .handle((reply, error) -> {
                            try {
                                retries.checkReply(source, address, "read", reply, error, List.of());
                                retries.copyVerified(chunk, source, address, chunkOffset, lengthBytes, reply,
                                        destination, destinationIndex);
                                return (Void) null;
                            } finally {
                                ChunkRetries.release(reply);
                            }
                        }));
    }

    @Override
    public CompletableFuture<Void> write(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        Chunklet primary = ChunkRoles.primary(chunk);
        List<Chunklet> others = new ArrayList<>();
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet != primary && ChunkRoles.takesWrites(chunklet)) {
                others.add(chunklet);
            }
        }
        return addresses(primary, others).thenCompose(addresses -> {
            String primaryAddress = addresses.getFirst();
            List<String> replicaAddresses = addresses.subList(1, addresses.size());
            int blocks = lengthBytes >> BLOCK_SHIFT;
            ByteBuf trailer = alloc.buffer(4 * blocks + (replicaAddresses.isEmpty() ? 0 : 64 * addresses.size()));
            for (int i = 0; i < blocks; i++) {
                trailer.writeInt(crcs[firstBlock + i]);
            }
            if (!replicaAddresses.isEmpty()) {
                DataClient.appendReplicaList(trailer, replicaAddresses);
            }
            CompositeByteBuf payload = alloc.compositeBuffer(2);
            payload.addComponents(true, data.retainedSlice(dataIndex, lengthBytes), trailer);
            int type = replicaAddresses.isEmpty() ? DataFrame.TYPE_WRITE : DataFrame.TYPE_FORWARD;
            return cluster.connections().request(primaryAddress, type, chunk.uid(), chunk.version(), chunkOffset,
                    lengthBytes, payload).handle((reply, error) -> {
                        try {
                            retries.checkReply(primary, primaryAddress, "write", reply, error, others);
                            return null;
                        } finally {
                            ChunkRetries.release(reply);
                        }
                    });
        });
    }

    private CompletableFuture<List<String>> addresses(Chunklet primary, List<Chunklet> others) {
        List<CompletableFuture<String>> lookups = new ArrayList<>();
        lookups.add(cluster.directory().address(primary.csId()));
        for (Chunklet chunklet : others) {
            lookups.add(cluster.directory().address(chunklet.csId()));
        }
        return CompletableFuture.allOf(lookups.toArray(CompletableFuture[]::new))
                .thenApply(ignored -> lookups.stream().map(CompletableFuture::join).toList());
    }

    @Override
    public CompletableFuture<Void> zero(int type, Chunk chunk, long chunkOffset, int lengthBytes) {
        List<Chunklet> targets = chunk.chunklets().stream().filter(ChunkRoles::takesWrites).toList();
        List<CompletableFuture<AttemptFailure>> sends = new ArrayList<>();
        for (Chunklet target : targets) {
            sends.add(cluster.directory().address(target.csId()).thenCompose(address ->
                    cluster.connections().request(address, type, chunk.uid(), chunk.version(), chunkOffset,
                            lengthBytes, null).handle((reply, error) -> {
                                try {
                                    retries.checkReply(target, address, DataFrame.typeName(type), reply, error,
                                            List.of());
                                    return (AttemptFailure) null;
                                } catch (AttemptFailure failure) {
                                    return failure;
                                } finally {
                                    ChunkRetries.release(reply);
                                }
                            })));
        }
        return CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new)).thenApply(ignored -> {
            AttemptFailure worst = null;
            List<Integer> failed = new ArrayList<>();
            for (CompletableFuture<AttemptFailure> send : sends) {
                AttemptFailure failure = send.join();
                if (failure == null) {
                    continue;
                }
                failed.addAll(failure.failedCsIds);
                if (worst == null || failure.remedy.ordinal() > worst.remedy.ordinal()) {
                    worst = failure;
                }
            }
            if (worst == null) {
                return null;
            }
            if (worst.remedy == AttemptFailure.Remedy.REPORT) {
                throw AttemptFailure.report(worst.reason, failed, worst.getMessage());
            }
            throw worst;
        });
    }
}
