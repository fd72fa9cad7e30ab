package io.basalt.nbd;

import io.netty.buffer.ByteBuf;

/** What the decoder produces during the handshake phase. */
public sealed interface NbdHandshakeMessage {

    /** The client's 32-bit flags, right after the server greeting. */
    record ClientFlags(int flags) implements NbdHandshakeMessage {}

    /**
     * One option request. {@code data} is a retained slice the handler must release; it is null
     * when the option was larger than the decoder accepts ({@code dataLength} bytes were skipped).
     */
    record Option(int option, ByteBuf data, long dataLength) implements NbdHandshakeMessage {
        public boolean tooBig() {
            return data == null;
        }
    }
}
