package io.basalt.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.charset.StandardCharsets;

/** Client-side NBD encoding for tests (the server has no reason to encode requests). */
final class NbdWire {
    private NbdWire() {}

    static ByteBuf option(int option, byte[] data) {
        ByteBuf out = Unpooled.buffer(16 + data.length);
        out.writeLong(NbdProtocol.IHAVEOPT).writeInt(option).writeInt(data.length).writeBytes(data);
        return out;
    }

    static ByteBuf request(int flags, int type, long handle, long offset, long length, byte[] payload) {
        ByteBuf out = Unpooled.buffer(28 + (payload == null ? 0 : payload.length));
        out.writeInt(NbdProtocol.REQUEST_MAGIC).writeShort(flags).writeShort(type).writeLong(handle)
                .writeLong(offset).writeInt((int) length);
        if (payload != null) {
            out.writeBytes(payload);
        }
        return out;
    }

    /** GO/INFO data: u32 name length, name, u16 count, u16 info types. */
    static byte[] goData(String name, int... infoTypes) {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        ByteBuf out = Unpooled.buffer();
        out.writeInt(nameBytes.length).writeBytes(nameBytes).writeShort(infoTypes.length);
        for (int type : infoTypes) {
            out.writeShort(type);
        }
        return bytes(out);
    }

    /** SET/LIST_META_CONTEXT data: u32 name length, name, u32 count, (u32 length, query)*. */
    static byte[] metaContextData(String name, String... queries) {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        ByteBuf out = Unpooled.buffer();
        out.writeInt(nameBytes.length).writeBytes(nameBytes).writeInt(queries.length);
        for (String query : queries) {
            byte[] q = query.getBytes(StandardCharsets.UTF_8);
            out.writeInt(q.length).writeBytes(q);
        }
        return bytes(out);
    }

    static byte[] bytes(ByteBuf buf) {
        byte[] out = new byte[buf.readableBytes()];
        buf.readBytes(out);
        buf.release();
        return out;
    }
}
