package io.basalt.nbd;

import io.netty.buffer.ByteBuf;

/**
 * One transmission-phase request as decoded from the wire.
 *
 * <p>Ownership: {@code payload} (WRITE only) is a retained slice of the connection's input; the
 * handler that receives the request owns it and releases it when the write completes or fails.
 * {@code payloadDropped} marks a WRITE whose payload exceeded the limit and was skipped on the wire
 * (the stream stays in sync; the request is answered with an error).
 *
 * @param flags command flags (u16)
 * @param type command type (u16)
 * @param handle opaque client handle, echoed in the reply
 * @param offset unsigned 64-bit offset; values above {@code Long.MAX_VALUE} arrive negative
 * @param length unsigned 32-bit length
 */
public record NbdRequest(int flags, int type, long handle, long offset, long length, ByteBuf payload,
        boolean payloadDropped) {
}
