package io.basalt.nbd;

import io.basalt.nbd.NbdExports.ExportInfo;
import io.basalt.nbd.NbdExports.OpenExport;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fixed-newstyle handshake: greeting, client flags, then options until the client picks an
 * export (GO or EXPORT_NAME) or leaves (ABORT). Then this handler replaces itself with a
 * {@link NbdTransmissionHandler}.
 *
 * <p>Each option is answered before the next is decoded ({@link NbdFrameDecoder} pauses), and
 * reading stops while an option is being answered, so a client can't make us buffer. Export lookups
 * are asynchronous; their completions hop back to the event loop, which owns all state here.
 * Malformed options get the spec's error reply and negotiation goes on; only what cannot be answered
 * (bad magic, unknown client flags, absurd lengths) closes the connection.
 */
final class NbdHandshakeHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(NbdHandshakeHandler.class);
    private static final int KNOWN_CLIENT_FLAGS = NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES;
    /** Context id of base:allocation once selected (0 is reserved for LIST replies). */
    static final int BASE_ALLOCATION_CONTEXT_ID = 1;
    /** A client must finish the handshake in this time; idle half-open sessions are dropped. */
    private static final long HANDSHAKE_TIMEOUT_SECONDS = 60;

    private final NbdServer.Shared shared;
    private final NbdFrameDecoder decoder;
    private boolean noZeroes;
    private boolean structuredReplies;
    /** Export the meta contexts were selected for; they apply only if GO names the same. */
    private String metaContextExport;
    private boolean baseAllocationSelected;
    private boolean finished;
    /** STARTTLS done: the rest of the handshake and the session run inside TLS. */
    private boolean tlsActive;

    NbdHandshakeHandler(NbdServer.Shared shared, NbdFrameDecoder decoder) {
        this.shared = shared;
        this.decoder = decoder;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        ctx.writeAndFlush(NbdReplies.greeting(ctx.alloc(), NbdProtocol.FLAG_FIXED_NEWSTYLE | NbdProtocol.FLAG_NO_ZEROES));
        ctx.executor().schedule(() -> {
            if (!finished && ctx.channel().isActive()) {
                log.info("{}: handshake not finished in {} s; closing", ctx.channel().remoteAddress(),
                        HANDSHAKE_TIMEOUT_SECONDS);
                shared.metrics.protocolErrors.labelValues("handshake_timeout").inc();
                ctx.close();
            }
        }, HANDSHAKE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof NbdHandshakeMessage message)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        // Stop reading until this message is answered: bounds what a client can make us buffer.
        ctx.channel().config().setAutoRead(false);
        switch (message) {
            case NbdHandshakeMessage.ClientFlags flags -> onClientFlags(ctx, flags.flags());
            case NbdHandshakeMessage.Option option -> {
                try {
                    onOption(ctx, option);
                } finally {
                    ReferenceCountUtil.release(option.data());
                }
            }
        }
    }

    private void onClientFlags(ChannelHandlerContext ctx, int flags) {
        if ((flags & ~KNOWN_CLIENT_FLAGS) != 0) {
            protocolViolation(ctx, "unknown_client_flags", String.format("unknown client flags 0x%08x", flags));
            return;
        }
        noZeroes = (flags & NbdProtocol.FLAG_C_NO_ZEROES) != 0;
        continueOptions(ctx);
    }

    private void onOption(ChannelHandlerContext ctx, NbdHandshakeMessage.Option message) {
        int option = message.option();
        if (message.tooBig()) {
            if (option == NbdProtocol.OPT_EXPORT_NAME) {
                protocolViolation(ctx, "option_too_big", "EXPORT_NAME of " + message.dataLength() + " bytes");
                return;
            }
            replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_TOO_BIG,
                    "option data of " + message.dataLength() + " bytes exceeds " + NbdFrameDecoder.OPTION_DATA_MAX_BYTES));
            return;
        }
        ByteBuf data = message.data();
        log.debug("{}: option {} with {} bytes", ctx.channel().remoteAddress(), NbdProtocol.optionName(option),
                data.readableBytes());
        if (shared.shuttingDown && option != NbdProtocol.OPT_ABORT) {
            if (option == NbdProtocol.OPT_EXPORT_NAME) {
                ctx.close();
                return;
            }
            replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_SHUTDOWN,
                    "server is shutting down"));
            return;
        }
        if (shared.tls.mode() == NbdTls.Mode.REQUIRE && !tlsActive && option != NbdProtocol.OPT_STARTTLS
                && option != NbdProtocol.OPT_ABORT) {
            // The spec: without TLS, a server that requires it answers ERR_TLS_REQD, and to
            // EXPORT_NAME (which has no error reply) it closes the connection.
            shared.metrics.protocolErrors.labelValues("tls_required").inc();
            log.info("{}: {} before STARTTLS refused: this gateway requires TLS", ctx.channel().remoteAddress(),
                    NbdProtocol.optionName(option));
            if (option == NbdProtocol.OPT_EXPORT_NAME) {
                ctx.close();
                return;
            }
            replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_TLS_REQD,
                    "this server requires TLS: connect with nbds:// (NBD_OPT_STARTTLS) and a certificate"));
            return;
        }
        switch (option) {
            case NbdProtocol.OPT_EXPORT_NAME -> onExportName(ctx, data);
            case NbdProtocol.OPT_ABORT -> {
                finished = true;
                ctx.writeAndFlush(NbdReplies.optionReply(ctx.alloc(), option, NbdProtocol.REP_ACK))
                        .addListener(ChannelFutureListener.CLOSE);
            }
            case NbdProtocol.OPT_LIST -> onList(ctx, data);
            case NbdProtocol.OPT_STRUCTURED_REPLY -> {
                if (data.isReadable()) {
                    invalid(ctx, option, "STRUCTURED_REPLY takes no data");
                } else {
                    structuredReplies = true;
                    replyAndContinue(ctx, NbdReplies.optionReply(ctx.alloc(), option, NbdProtocol.REP_ACK));
                }
            }
            case NbdProtocol.OPT_INFO, NbdProtocol.OPT_GO -> onInfoOrGo(ctx, option, data);
            case NbdProtocol.OPT_LIST_META_CONTEXT, NbdProtocol.OPT_SET_META_CONTEXT -> onMetaContext(ctx, option, data);
            case NbdProtocol.OPT_STARTTLS -> onStartTls(ctx, data);
            default -> replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_UNSUP,
                    "option " + option + " is not supported"));
        }
    }

    /**
     * STARTTLS: ACK in plain text, then the TLS handshake, then option haggling starts afresh
     * inside it (the spec: what was negotiated before is forgotten). The SslHandler goes in before
     * the ACK is written, marked startTls so that that one write passes unencrypted: the client's
     * first TLS record can then never reach the NBD decoder as option bytes.
     */
    private void onStartTls(ChannelHandlerContext ctx, ByteBuf data) {
        int option = NbdProtocol.OPT_STARTTLS;
        if (shared.tls.mode() == NbdTls.Mode.OFF) {
            replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_UNSUP,
                    "TLS is off on this server (basalt nbd run --tls optional|require)"));
            return;
        }
        if (data.isReadable()) {
            invalid(ctx, option, "STARTTLS takes no data");
            return;
        }
        if (tlsActive) {
            invalid(ctx, option, "TLS is already active");
            return;
        }
        tlsActive = true;
        structuredReplies = false;
        metaContextExport = null;
        baseAllocationSelected = false;
        NbdTls tls = shared.tls;
        if (tls.psk() == null) {
            ctx.pipeline().addFirst("nbd-tls-peer-check", tls.tls().peerCheck("NBD connection"))
                    .addFirst("nbd-tls", tls.tls().serverHandler(ctx.alloc(), true));
        } else {
            // Which engine depends on what the client offers (a key or a certificate): the router reads
            // its ClientHello, which comes only after the ACK below, so the ACK passes it unencrypted.
            ctx.pipeline().addFirst("nbd-tls", new StartTlsRouter(tls.psk(),
                    () -> new PskTlsHandler(tls.psk(), shared.metrics),
                    tls.tls() == null ? null : () -> new io.netty.channel.ChannelHandler[] {
                            tls.tls().serverHandler(ctx.alloc(), false), tls.tls().peerCheck("NBD connection")}));
        }
        replyAndContinue(ctx, NbdReplies.optionReply(ctx.alloc(), option, NbdProtocol.REP_ACK));
    }

    private void onExportName(ChannelHandlerContext ctx, ByteBuf data) {
        String name;
        try {
            name = readString(data, data.readableBytes());
        } catch (OptionFormatException e) {
            protocolViolation(ctx, "bad_export_name", "EXPORT_NAME: " + e.getMessage());
            return;
        }
        String denied = accessRefusal(ctx, name);
        if (denied != null) {
            // EXPORT_NAME cannot carry an error: the spec says close.
            ctx.close();
            return;
        }
        shared.exports.open(name).whenComplete((export, failure) -> ctx.executor().execute(() -> {
            if (failure != null) {
                // EXPORT_NAME cannot carry an error: the spec says close.
                log.info("{}: EXPORT_NAME \"{}\" refused ({}); closing", ctx.channel().remoteAddress(), name,
                        rootMessage(failure));
                ctx.close();
                return;
            }
            if (!ctx.channel().isActive()) {
                export.releaseQuietly();
                return;
            }
            // What was negotiated holds here too: an acked STRUCTURED_REPLY means READ replies are
            // structured, however transmission is entered.
            int flags = export.info().transmissionFlags(structuredReplies);
            if (metaContextExport != null && !metaContextExport.equals(name)) {
                baseAllocationSelected = false;
            }
            ctx.writeAndFlush(NbdReplies.exportNameReply(ctx.alloc(), export.info().sizeBytes(), flags, noZeroes));
            enterTransmission(ctx, export);
        }));
    }

    private void onList(ChannelHandlerContext ctx, ByteBuf data) {
        if (data.isReadable()) {
            invalid(ctx, NbdProtocol.OPT_LIST, "LIST takes no data");
            return;
        }
        shared.exports.list().whenComplete((exports, failure) -> ctx.executor().execute(() -> {
            if (failure != null) {
                replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), NbdProtocol.OPT_LIST,
                        NbdProtocol.REP_ERR_POLICY, "cannot list exports: " + rootMessage(failure)));
                return;
            }
            String client = clientName(ctx);
            for (ExportInfo export : exports) {
                // A client sees only the exports it may open.
                if (shared.tls.access().refusal(export.name(), client) == null) {
                    ctx.write(NbdReplies.serverReply(ctx.alloc(), export.name(), export.description()));
                }
            }
            replyAndContinue(ctx, NbdReplies.optionReply(ctx.alloc(), NbdProtocol.OPT_LIST, NbdProtocol.REP_ACK));
        }));
    }

    /**
     * INFO and GO: u32 name length, name, u16 number of info requests, u16 each. Replies: INFO
     * (EXPORT, plus NAME/DESCRIPTION when asked, and BLOCK_SIZE always), then ACK.
     */
    private void onInfoOrGo(ChannelHandlerContext ctx, int option, ByteBuf data) {
        String name;
        List<Integer> infoRequests = new ArrayList<>();
        try {
            name = readString(data, readLength(data, "export name length"));
            if (data.readableBytes() < 2) {
                throw new OptionFormatException("missing number of information requests");
            }
            int requestCount = data.readUnsignedShort();
            if (data.readableBytes() != 2L * requestCount) {
                throw new OptionFormatException(requestCount + " information requests need " + (2 * requestCount)
                        + " bytes, got " + data.readableBytes());
            }
            for (int i = 0; i < requestCount; i++) {
                infoRequests.add(data.readUnsignedShort());
            }
        } catch (OptionFormatException e) {
            invalid(ctx, option, NbdProtocol.optionName(option) + ": " + e.getMessage());
            return;
        }
        String denied = accessRefusal(ctx, name);
        if (denied != null) {
            replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_POLICY, denied));
            return;
        }
        if (option == NbdProtocol.OPT_INFO) {
            shared.exports.describe(name).whenComplete((info, failure) -> ctx.executor().execute(() -> {
                if (failure != null || info.isEmpty()) {
                    replyUnknownExport(ctx, option, name, failure);
                    return;
                }
                writeInfo(ctx, option, info.get(), infoRequests);
                replyAndContinue(ctx, NbdReplies.optionReply(ctx.alloc(), option, NbdProtocol.REP_ACK));
            }));
            return;
        }
        shared.exports.open(name).whenComplete((export, failure) -> ctx.executor().execute(() -> {
            if (failure != null) {
                replyUnknownExport(ctx, option, name, failure);
                return;
            }
            if (!ctx.channel().isActive()) {
                export.releaseQuietly();
                return;
            }
            if (metaContextExport != null && !metaContextExport.equals(name)) {
                baseAllocationSelected = false; // contexts were chosen for another export
            }
            writeInfo(ctx, option, export.info(), infoRequests);
            ctx.writeAndFlush(NbdReplies.optionReply(ctx.alloc(), option, NbdProtocol.REP_ACK));
            enterTransmission(ctx, export);
        }));
    }

    private void writeInfo(ChannelHandlerContext ctx, int option, ExportInfo info, List<Integer> infoRequests) {
        ctx.write(NbdReplies.infoExport(ctx.alloc(), option, info.sizeBytes(), info.transmissionFlags(structuredReplies)));
        if (infoRequests.contains(NbdProtocol.INFO_NAME)) {
            ctx.write(NbdReplies.infoString(ctx.alloc(), option, NbdProtocol.INFO_NAME, info.name()));
        }
        if (infoRequests.contains(NbdProtocol.INFO_DESCRIPTION) && !info.description().isEmpty()) {
            ctx.write(NbdReplies.infoString(ctx.alloc(), option, NbdProtocol.INFO_DESCRIPTION, info.description()));
        }
        // Sent even when not asked: the spec allows it, and clients that honour it avoid our limits.
        ctx.write(NbdReplies.infoBlockSize(ctx.alloc(), option, info.minimumBlockSizeBytes(),
                info.preferredBlockSizeBytes(), info.maximumPayloadBytes()));
    }

    /**
     * LIST_META_CONTEXT and SET_META_CONTEXT: u32 name length, name, u32 number of queries, then
     * (u32 length, query) each. We know one context, base:allocation.
     */
    private void onMetaContext(ChannelHandlerContext ctx, int option, ByteBuf data) {
        if (!structuredReplies) {
            invalid(ctx, option, NbdProtocol.optionName(option) + " needs STRUCTURED_REPLY first");
            return;
        }
        String name;
        List<String> queries = new ArrayList<>();
        try {
            name = readString(data, readLength(data, "export name length"));
            long queryCount = readLength(data, "number of queries");
            if (queryCount > data.readableBytes() / 4) {
                throw new OptionFormatException(queryCount + " queries cannot fit in " + data.readableBytes() + " bytes");
            }
            for (long i = 0; i < queryCount; i++) {
                queries.add(readString(data, readLength(data, "query length")));
            }
            if (data.isReadable()) {
                throw new OptionFormatException(data.readableBytes() + " unexpected bytes after the queries");
            }
        } catch (OptionFormatException e) {
            invalid(ctx, option, NbdProtocol.optionName(option) + ": " + e.getMessage());
            return;
        }
        boolean list = option == NbdProtocol.OPT_LIST_META_CONTEXT;
        boolean selectsBaseAllocation = false;
        for (String query : queries) {
            if (query.equals(NbdProtocol.BASE_ALLOCATION) || (list && query.equals("base:"))) {
                selectsBaseAllocation = true;
            }
        }
        if (list && queries.isEmpty()) {
            selectsBaseAllocation = true; // no query lists every context we know
        }
        boolean selected = selectsBaseAllocation;
        shared.exports.describe(name).whenComplete((info, failure) -> ctx.executor().execute(() -> {
            if (failure != null || info.isEmpty()) {
                replyUnknownExport(ctx, option, name, failure);
                return;
            }
            if (selected) {
                ctx.write(NbdReplies.metaContext(ctx.alloc(), option, list ? 0 : BASE_ALLOCATION_CONTEXT_ID,
                        NbdProtocol.BASE_ALLOCATION));
            }
            if (!list) {
                metaContextExport = name;
                baseAllocationSelected = selected;
            }
            replyAndContinue(ctx, NbdReplies.optionReply(ctx.alloc(), option, NbdProtocol.REP_ACK));
        }));
    }

    private void enterTransmission(ChannelHandlerContext ctx, OpenExport export) {
        finished = true;
        NbdTransmissionHandler transmission = new NbdTransmissionHandler(shared, decoder, export, structuredReplies,
                baseAllocationSelected ? BASE_ALLOCATION_CONTEXT_ID : 0);
        ctx.pipeline().replace(this, "nbd-transmission", transmission);
        log.debug("{}: export \"{}\" open (structured replies {}, base:allocation {})",
                ctx.channel().remoteAddress(), export.info().name(), structuredReplies, baseAllocationSelected);
        decoder.resume(NbdFrameDecoder.Phase.TRANSMISSION);
        redecode(ctx);
    }

    private void continueOptions(ChannelHandlerContext ctx) {
        decoder.resume(NbdFrameDecoder.Phase.OPTION);
        redecode(ctx);
    }

    /** Decodes what arrived while paused, then reads on. */
    private static void redecode(ChannelHandlerContext ctx) {
        ctx.executor().execute(() -> NbdServer.decodeBuffered(ctx.channel()));
    }

    private void replyAndContinue(ChannelHandlerContext ctx, ByteBuf reply) {
        ctx.writeAndFlush(reply);
        continueOptions(ctx);
    }

    /**
     * Why this client may not open {@code export} under the gateway's --allow lists, or null; a
     * refusal is logged (who, what, why) and counted.
     */
    private String accessRefusal(ChannelHandlerContext ctx, String export) {
        if (shared.tls.access().isOpen()) {
            return null;
        }
        String client = clientName(ctx);
        String why = shared.tls.access().refusal(export, client);
        if (why != null) {
            log.warn("{} ({}): refused export \"{}\": {}", ctx.channel().remoteAddress(),
                    client == null ? "no certificate" : client, export, why);
            shared.metrics.accessRefusals.inc();
        }
        return why;
    }

    /**
     * The client's identity (the holder in its certificate, or its PSK username), or null before
     * STARTTLS (a plain-text client): set on the channel when its TLS handshake was accepted.
     */
    private String clientName(ChannelHandlerContext ctx) {
        return tlsActive ? ctx.channel().attr(io.basalt.protocol.data.DataTls.PEER_NAME).get() : null;
    }

    private void invalid(ChannelHandlerContext ctx, int option, String message) {
        log.info("{}: invalid option: {}", ctx.channel().remoteAddress(), message);
        shared.metrics.protocolErrors.labelValues("invalid_option").inc();
        replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_INVALID, message));
    }

    private void replyUnknownExport(ChannelHandlerContext ctx, int option, String name, Throwable failure) {
        Throwable cause = unwrap(failure);
        if (cause == null || cause instanceof NbdExports.UnknownExportException) {
            replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_UNKNOWN,
                    "no export named \"" + name + "\"; list them with nbdinfo --list"));
        } else {
            log.info("{}: cannot open export \"{}\": {}", ctx.channel().remoteAddress(), name, cause.getMessage());
            replyAndContinue(ctx, NbdReplies.optionError(ctx.alloc(), option, NbdProtocol.REP_ERR_POLICY,
                    "cannot open export \"" + name + "\": " + cause.getMessage()));
        }
    }

    private void protocolViolation(ChannelHandlerContext ctx, String kind, String message) {
        log.info("{}: closing: {}", ctx.channel().remoteAddress(), message);
        shared.metrics.protocolErrors.labelValues(kind).inc();
        decoder.close();
        ctx.close();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        NbdServer.closeOnException(ctx, cause, decoder, shared.metrics);
    }

    private static long readLength(ByteBuf data, String what) throws OptionFormatException {
        if (data.readableBytes() < 4) {
            throw new OptionFormatException("missing " + what);
        }
        return data.readUnsignedInt();
    }

    private static String readString(ByteBuf data, long lengthBytes) throws OptionFormatException {
        if (lengthBytes > NbdProtocol.STRING_BYTES_MAX) {
            throw new OptionFormatException("string of " + lengthBytes + " bytes (max " + NbdProtocol.STRING_BYTES_MAX + ")");
        }
        if (lengthBytes > data.readableBytes()) {
            throw new OptionFormatException("string of " + lengthBytes + " bytes but only " + data.readableBytes() + " left");
        }
        try {
            String text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(data.nioBuffer(data.readerIndex(), (int) lengthBytes))
                    .toString();
            data.skipBytes((int) lengthBytes);
            if (text.indexOf('\0') >= 0) {
                throw new OptionFormatException("string contains NUL");
            }
            return text;
        } catch (CharacterCodingException e) {
            throw new OptionFormatException("string is not valid UTF-8");
        }
    }

    private static Throwable unwrap(Throwable failure) {
        Throwable cause = failure;
        while (cause instanceof CompletionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    private static String rootMessage(Throwable failure) {
        Throwable cause = unwrap(failure);
        return cause == null ? "unknown" : cause.getMessage();
    }

    /** A malformed option; answered NBD_REP_ERR_INVALID. */
    private static final class OptionFormatException extends Exception {
        OptionFormatException(String message) {
            super(message, null, false, false);
        }
    }
}
