package io.basalt.meta.model;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/**
 * A registered chunk server as the replicated state knows it. {@code allocatedBytes} is what
 * placement has assigned to it (chunklet sizes), kept in the state so that placement stays a
 * deterministic function of the log; the bytes it really uses come with heartbeats (soft state).
 */
public record ChunkServer(int id, String address, String host, String zone, long capacityBytes,
                          long allocatedBytes, CsStatus status, String softwareVersion) {

    public long freeBytes() {
        return Math.max(0, capacityBytes - allocatedBytes);
    }

    public ChunkServer withStatus(CsStatus newStatus) {
        return new ChunkServer(id, address, host, zone, capacityBytes, allocatedBytes, newStatus,
                softwareVersion);
    }

    public ChunkServer withAllocatedBytes(long newAllocatedBytes) {
        return new ChunkServer(id, address, host, zone, capacityBytes, newAllocatedBytes, status,
                softwareVersion);
    }

    public void encode(WireWriter out) {
        out.i32(id).string(address).string(host).string(zone).i64(capacityBytes)
                .i64(allocatedBytes).u8(status.code).string(softwareVersion);
    }

    public static ChunkServer decode(WireReader in) {
        return new ChunkServer(in.i32(), in.string(), in.string(), in.string(), in.i64(), in.i64(),
                CsStatus.ofCode(in.u8()), in.string());
    }
}
