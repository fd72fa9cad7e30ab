package io.basalt.chunkserver.protocol;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.ec.CrashPoints;
import io.basalt.chunkserver.ec.StripeMaster;
import io.basalt.chunkserver.ec.StripeVerifier;
import io.basalt.chunkserver.store.ScrubReader;
import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.DataProtocolException;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.EcSection;
import io.basalt.protocol.data.ReplicaClients;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.DecoderException;
import io.netty.util.collection.LongObjectHashMap;
import io.netty.util.concurrent.ScheduledFuture;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One data connection on the chunk server: checks each request, sends mutations through the WAL
 * (group commit), reads to the reader threads, and answers each request when it is done, in whatever
 * order they finish (pipelining, out-of-order replies).
 *
 * <p>Design note. Writes are checked on the event loop (lengths, per-block CRC32C of the received
 * data, version fence) because a 4 KiB CRC32C costs well under a microsecond with the CPU
 * instruction, and a bad request should not take a WAL slot. Disk work never runs here: the WAL
 * writer and reader threads do it and hand the reply back with {@code ctx.executor().execute}.
 *
 * <p>Bounds: bytes of unanswered requests per connection ({@code inFlightBytesMax}) and their number
 * ({@link #IN_FLIGHT_REQUESTS_MAX}); above either the connection stops reading (autoRead off) until
 * replies drain below half. A request that is not
 * answered within {@code requestTimeoutMillis} is answered TIMEOUT by a per-connection sweeper, and
 * its late result is dropped.
 *
 * <p>Ownership: {@link #inFlight} and the counters belong to this connection's event loop.
 */
final class DataServerHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(DataServerHandler.class);

    /**
     * Requests in flight per connection beyond which it stops reading, whatever their size: small
     * requests (INFO, 4 KiB reads) are cheap in bytes but not in bookkeeping. 1024 is far above the
     * queue depths clients use (NBD QD32 per connection) yet bounds a flood to ~100 KiB of state.
     */
    static final int IN_FLIGHT_REQUESTS_MAX = 1024;
    /**
     * Largest read tried inline on the event loop: copying and checking 256 KiB costs tens of
     * microseconds, about what the hand-off to a reader thread and back costs; beyond that the
     * event loop would stall other connections.
     */
    static final int INLINE_READ_BYTES_MAX = 256 * 1024;

    private final DataService service;
    private final LongObjectHashMap<InFlight> inFlight = new LongObjectHashMap<>();
    private long inFlightBytes;
    private boolean readingPaused;
    /** A frame refused for the peer's role was logged on this connection (one line per connection). */
    private boolean roleRefusalLogged;
    private ChannelHandlerContext ctx;
    private ScheduledFuture<?> sweeper;

    /** A request awaiting its reply. */
    private record InFlight(int type, long startNanos, int frameBytes) {}

    DataServerHandler(DataService service) {
        this.service = service;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) throws Exception {
        service.metrics().connectionsOpen.inc();
        long period = Math.max(10, service.requestTimeoutMillis() / 4);
        sweeper = ctx.executor().scheduleAtFixedRate(this::sweepTimeouts, period, period, TimeUnit.MILLISECONDS);
        super.channelActive(ctx);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) throws Exception {
        service.metrics().connectionsOpen.dec();
        if (sweeper != null) {
            sweeper.cancel(false);
        }
        service.metrics().requestsInFlight.dec(inFlight.size());
        service.metrics().bytesInFlight.dec(inFlightBytes);
        inFlight.clear();
        inFlightBytes = 0;
        super.channelInactive(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ByteBuf frame = (ByteBuf) msg;
        try {
            handle(frame);
        } finally {
            frame.release();
        }
    }

    private void handle(ByteBuf frame) {
        int type = DataFrame.type(frame);
        long requestId = DataFrame.requestId(frame);
        long chunkUid = DataFrame.chunkUid(frame);
        if (inFlight.containsKey(requestId)) {
            protocolError(DataProtocolException.Kind.BAD_REPLY, type, requestId,
                    "request id " + requestId + " is already in flight on this connection");
            return;
        }
        int frameBytes = frame.readableBytes();
        inFlight.put(requestId, new InFlight(type, System.nanoTime(), frameBytes));
        inFlightBytes += frameBytes;
        service.metrics().requestsInFlight.inc();
        service.metrics().bytesInFlight.inc(frameBytes);
        service.metrics().requests.labelValues(DataFrame.typeName(type)).inc();
        if ((inFlightBytes > service.inFlightBytesMax() || inFlight.size() >= IN_FLIGHT_REQUESTS_MAX)
                && !readingPaused) {
            readingPaused = true;
            ctx.channel().config().setAutoRead(false);
        }
        try {
            if ((DataFrame.flags(frame) & ~DataFrame.FLAGS_KNOWN) != 0) {
                throw new CsException(CsStatus.INVALID, "flags 0x" + Integer.toHexString(DataFrame.flags(frame))
                        + " unknown (known: 0x" + Integer.toHexString(DataFrame.FLAGS_KNOWN) + ")");
            }
            checkRole(type, DataFrame.flags(frame));
            if ((type == DataFrame.TYPE_READ || type == DataFrame.TYPE_FLUSH || type == DataFrame.TYPE_INFO
                    || type == DataFrame.TYPE_BLOCK_MAP)
                    && DataFrame.payloadBytes(frame) != 0) {
                throw new CsException(CsStatus.INVALID, DataFrame.typeName(type) + " carries no payload ("
                        + DataFrame.payloadBytes(frame) + " bytes sent)");
            }
            switch (type) {
                case DataFrame.TYPE_READ -> read(frame, requestId, chunkUid);
                case DataFrame.TYPE_WRITE -> write(frame, requestId, chunkUid, false);
                case DataFrame.TYPE_FORWARD -> write(frame, requestId, chunkUid, true);
                case DataFrame.TYPE_WRITE_ZEROES, DataFrame.TYPE_TRIM -> zero(frame, type, requestId, chunkUid);
                case DataFrame.TYPE_FLUSH -> {
                    // Every acknowledged write is already durable (the WAL synced it before the reply),
                    // so a flush has nothing left to wait for.
                    ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES);
                    DataFrame.writeHeader(out, type | DataFrame.REPLY, 0, requestId, chunkUid, 0, 0, 0, 0, 0);
                    reply(requestId, out, CsStatus.OK, 0);
                }
                case DataFrame.TYPE_INFO -> info(requestId, chunkUid, DataFrame.chunkVersion(frame));
                case DataFrame.TYPE_BLOCK_MAP -> blockMap(frame, requestId, chunkUid);
                case DataFrame.TYPE_STRIP_READ -> stripRead(frame, requestId, chunkUid);
                case DataFrame.TYPE_PREPARE -> prepare(frame, requestId, chunkUid);
                case DataFrame.TYPE_RESOLVE -> resolve(frame, requestId, chunkUid);
                case DataFrame.TYPE_STRIP_REPAIR -> stripRepair(frame, requestId, chunkUid);
                case DataFrame.TYPE_EC_WRITE, DataFrame.TYPE_EC_READ, DataFrame.TYPE_STRIP_REBUILD,
                        DataFrame.TYPE_HOT_WRITE, DataFrame.TYPE_STRIP_WRITE, DataFrame.TYPE_HOT_FREEZE ->
                        stripeMaster(frame, type, requestId, chunkUid);
                case DataFrame.TYPE_HOT_PUT, DataFrame.TYPE_HOT_FREE -> {
                    // Stripe-keyed copies another master sent to this parity column are untrusted
                    // here once logged (HotTrust): settled before this server serves them as master.
                    StripeMaster stripes = type == DataFrame.TYPE_HOT_PUT && DataFrame.offsetBytes(frame)
                            >= io.basalt.chunkserver.hot.HotStore.PARITY_KEY_BASE * EcLayout.STRIP_BYTES
                            ? service.stripes() : null;
                    WalEntry.Completion done = (e, error) -> {
                        if (error == null && stripes != null) {
                            stripes.hotCopiesArrived(chunkUid);
                        }
                        ctx.executor().execute(() -> replyDone(type, requestId, chunkUid, 0, error));
                    };
                    service.wal().submit(type == DataFrame.TYPE_HOT_PUT
                            ? HotRequests.hotPut(service, frame, ctx.alloc(), done)
                            : HotRequests.hotFree(service, frame, ctx.alloc(), done));
                }
                default -> throw new CsException(CsStatus.NOT_SUPPORTED, "frame type " + type + " is not a request");
            }
        } catch (CsException e) {
            replyError(type, requestId, chunkUid, e.status(), e.getMessage());
        }
    }

    /**
     * Refuses, with FORBIDDEN, a frame type only chunk servers send when the peer's certificate is
     * another role's (docs/security.md); the first refusal on a connection is logged.
     */
    private void checkRole(int type, int flags) throws CsException {
        io.basalt.common.tls.Role role = ctx.channel().attr(io.basalt.protocol.data.DataTls.PEER_ROLE).get();
        boolean relayed = (flags & DataFrame.FLAG_RELAYED) != 0;
        if (role == null || role == io.basalt.common.tls.Role.CHUNK_SERVER
                || (!DataFrame.chunkServerOnly(type) && !relayed)) {
            return;
        }
        String why = "role " + role.label() + " may not send " + DataFrame.typeName(type)
                + (relayed ? " relayed" : "") + ": only chunk servers send it to each other";
        if (!roleRefusalLogged) {
            roleRefusalLogged = true;
            log.warn("refused {} from {} ({}): {}", DataFrame.typeName(type), ctx.channel().remoteAddress(),
                    ctx.channel().attr(io.basalt.protocol.data.DataTls.PEER_NAME).get(), why);
        }
        throw new CsException(CsStatus.FORBIDDEN, why);
    }

    private void checkLength(ByteBuf frame) throws CsException {
        long lengthBytes = DataFrame.lengthBytes(frame);
        if (lengthBytes > service.lengthMaxBytes()) {
            throw new CsException(CsStatus.INVALID, "length " + lengthBytes + " (max " + service.lengthMaxBytes() + ")");
        }
        service.store().checkRange(DataFrame.offsetBytes(frame), lengthBytes);
    }

    private void read(ByteBuf frame, long requestId, long chunkUid) throws CsException {
        checkLength(frame);
        service.versions().check(chunkUid, DataFrame.chunkVersion(frame));
        long offsetBytes = DataFrame.offsetBytes(frame);
        int lengthBytes = (int) DataFrame.lengthBytes(frame);
        if (service.store().hasPending(chunkUid, offsetBytes, lengthBytes)) {
            throw new CsException(CsStatus.PENDING, "chunk " + Long.toHexString(chunkUid) + " range " + offsetBytes
                    + "+" + lengthBytes + " holds an undecided erasure-coded write; read it through the stripe master");
        }
        int payloadBytes = lengthBytes + 4 * (lengthBytes >> BLOCK_SHIFT);
        ChunkletStore store = service.store();
        boolean background = (DataFrame.flags(frame) & DataFrame.FLAG_BACKGROUND) != 0;
        boolean hot = HotRequests.hasHot(service, chunkUid, offsetBytes, lengthBytes);
        if (!background && !hot && replyInline(DataFrame.TYPE_READ, requestId, chunkUid, offsetBytes, lengthBytes)) {
            return;
        }
        try {
            (background ? service.backgroundReaders() : service.readers()).execute(() -> {
                ByteBuf out = ctx.alloc().directBuffer(DataFrame.HEADER_BYTES + payloadBytes);
                DataFrame.writeHeader(out, DataFrame.TYPE_READ | DataFrame.REPLY, 0, requestId, chunkUid, 0,
                        offsetBytes, lengthBytes, payloadBytes, 0);
                CsException error = null;
                try {
                    if (hot) {
                        HotRequests.read(service, chunkUid, offsetBytes, lengthBytes, out);
                    } else {
                        store.read(chunkUid, offsetBytes, lengthBytes, out);
                    }
                } catch (CsException e) {
                    error = e;
                } catch (RuntimeException e) {
                    error = new CsException(CsStatus.IO_ERROR, "read failed: " + e);
                }
                if (error != null) {
                    out.release();
                    CsException failed = error;
                    ctx.executor().execute(() -> replyError(DataFrame.TYPE_READ, requestId, chunkUid, failed.status(),
                            failed.getMessage()));
                } else {
                    ctx.executor().execute(() -> reply(requestId, out, CsStatus.OK, lengthBytes));
                }
            });
        } catch (RejectedExecutionException e) {
            throw readRefused(background ? service.backgroundReaders() : service.readers());
        }
    }

    private void write(ByteBuf frame, long requestId, long chunkUid, boolean forward) throws CsException {
        checkLength(frame);
        int type = forward ? DataFrame.TYPE_FORWARD : DataFrame.TYPE_WRITE;
        long offsetBytes = DataFrame.offsetBytes(frame);
        int lengthBytes = (int) DataFrame.lengthBytes(frame);
        int blocks = lengthBytes >> BLOCK_SHIFT;
        int blockPayloadBytes = lengthBytes + 4 * blocks;
        long payloadBytes = DataFrame.payloadBytes(frame);
        if (forward ? payloadBytes < blockPayloadBytes + 5 : payloadBytes != blockPayloadBytes) {
            throw new CsException(CsStatus.INVALID, "payload of " + payloadBytes + " bytes for a " + lengthBytes
                    + "-byte " + DataFrame.typeName(type) + " (expected " + blockPayloadBytes
                    + (forward ? " + replica list" : "") + ")");
        }
        int dataAt = frame.readerIndex() + DataFrame.HEADER_BYTES;
        int crcsAt = dataAt + lengthBytes;
        BlockCrc.verify(frame, dataAt, offsetBytes, blocks, chunkUid);
        List<String> replicas = forward ? replicaList(frame, crcsAt + 4 * blocks,
                (int) payloadBytes - blockPayloadBytes) : List.of();
        long chunkVersion = DataFrame.chunkVersion(frame);
        if (forward) {
            // Counted in flight until every replica answered: INFO reports the new version of a
            // chunk only once the writes accepted at the old one are through (ChunkVersions).
            service.versions().beginWrite(chunkUid, chunkVersion);
        } else if ((DataFrame.flags(frame) & DataFrame.FLAG_RELAYED) != 0) {
            service.versions().checkRelayed(chunkUid, chunkVersion);
        } else {
            service.versions().check(chunkUid, chunkVersion);
        }
        Gather gather = new Gather(type, requestId, chunkUid, lengthBytes, 1 + replicas.size(),
                forward ? chunkVersion : -1);
        for (String replica : replicas) {
            CompletableFuture<DataClient.Reply> sent;
            ReplicaClients clients = service.replicas();
            if (clients == null) {
                sent = CompletableFuture.failedFuture(new IOException("this chunk server does not forward"));
            } else {
                sent = clients.request(replica, DataFrame.TYPE_WRITE, DataFrame.FLAG_RELAYED, chunkUid, chunkVersion,
                        offsetBytes, lengthBytes, frame.retainedSlice(dataAt, blockPayloadBytes));
            }
            sent.whenComplete((reply, error) -> {
                String failure = null;
                if (error != null) {
                    failure = "replica " + replica + " failed: " + error.getMessage();
                } else {
                    if (reply.status() != CsStatus.OK) {
                        failure = "replica " + replica + " answered " + reply.status() + ": " + reply.message();
                    }
                    reply.release();
                }
                String result = failure;
                ctx.executor().execute(() -> gather.done(result));
            });
        }
        // Retain last: nothing below throws before the WAL owns the slice.
        WalEntry entry = new WalEntry(WalRecordFormat.TYPE_WRITE, chunkUid, offsetBytes, lengthBytes,
                frame.retainedSlice(dataAt, blockPayloadBytes), (e, error) -> {
                    ctx.executor().execute(() -> gather.doneLocal(error));
                }).withChunkVersion(chunkVersion);
        service.wal().submit(entry);
    }

    // ---- erasure coding: the column side (STRIP_READ, PREPARE, RESOLVE) ------------------------

    /**
     * Reads strips with their versions for the stripe master. With a settling mode, pending strips of
     * the range are settled first (through the WAL, so replay repeats it) and the read follows.
     */
    private void stripRead(ByteBuf frame, long requestId, long chunkUid) throws CsException {
        long requestedBytes = DataFrame.lengthBytes(frame);
        if (requestedBytes < 0 || requestedBytes > EcSection.PEEK_RANGE_BYTES_MAX) {
            throw new CsException(CsStatus.INVALID, "length " + requestedBytes + " (max " + EcSection.PEEK_RANGE_BYTES_MAX
                    + " for a peek, " + service.lengthMaxBytes() + " for a read)");
        }
        service.store().checkRange(DataFrame.offsetBytes(frame), requestedBytes);
        service.versions().check(chunkUid, DataFrame.chunkVersion(frame));
        long offsetBytes = DataFrame.offsetBytes(frame);
        int lengthBytes = (int) requestedBytes;
        int blocks = lengthBytes >> BLOCK_SHIFT;
        int at = frame.readerIndex() + DataFrame.HEADER_BYTES;
        int payloadBytes = (int) DataFrame.payloadBytes(frame);
        int sectionBytes = EcSection.lengthAt(frame, at, payloadBytes, blocks);
        EcSection section = EcSection.read(frame, at, sectionBytes, blocks);
        if (!section.peeks()) {
            checkLength(frame); // a read moves the bytes: the request bound holds
        }
        EcLayout layout = null;
        if (sectionBytes < payloadBytes) {
            if (section.mode() != EcSection.MODE_PEEK_HELD) {
                throw new CsException(CsStatus.INVALID, "a STRIP_READ carries " + (payloadBytes - sectionBytes)
                        + " bytes after its EC section; only a held peek may (the chunk's layout)");
            }
            layout = EcLayout.read(frame, at + sectionBytes, payloadBytes - sectionBytes);
        }
        if (section.peeks()) {
            peek(requestId, chunkUid, DataFrame.chunkVersion(frame), offsetBytes, lengthBytes, section, layout);
            return;
        }
        Runnable readAndReply = () -> readStrips(requestId, chunkUid, offsetBytes, lengthBytes);
        if (!service.store().hasPending(chunkUid, offsetBytes, lengthBytes)) {
            readAndReply.run();
            return;
        }
        if (section.mode() == EcSection.MODE_NONE) {
            throw new CsException(CsStatus.PENDING, "chunk " + Long.toHexString(chunkUid) + " range " + offsetBytes
                    + "+" + lengthBytes + " holds an undecided erasure-coded write");
        }
        service.wal().submit(new WalEntry(WalRecordFormat.TYPE_EC_RESOLVE, chunkUid, offsetBytes, lengthBytes,
                frame.retainedSlice(at, sectionBytes), (e, error) -> ctx.executor().execute(() -> {
                    if (error != null) {
                        replyError(DataFrame.TYPE_STRIP_READ, requestId, chunkUid, error.status(), error.getMessage());
                    } else {
                        readAndReply.run();
                    }
                })));
    }

    /**
     * Answers a READ or STRIP_READ of hot data here on the event loop, from the page cache and without
     * two thread hand-offs; false (nothing sent) when the range is too long or not all cached. A
     * STRIP_READ reply carries the strips' versions after the CRCs.
     */
    private boolean replyInline(int type, long requestId, long chunkUid, long offsetBytes, int lengthBytes)
            throws CsException {
        if (lengthBytes > INLINE_READ_BYTES_MAX) {
            return false;
        }
        ChunkletStore store = service.store();
        ByteBuf out = ctx.alloc().directBuffer(DataFrame.HEADER_BYTES + lengthBytes + 4 * (lengthBytes >> BLOCK_SHIFT));
        boolean served = false;
        try {
            int headerAt = out.writerIndex();
            DataFrame.writeHeader(out, type | DataFrame.REPLY, 0, requestId, chunkUid, 0, offsetBytes, lengthBytes, 0,
                    0);
            if (store.readCached(chunkUid, offsetBytes, lengthBytes, out)) {
                if (type == DataFrame.TYPE_STRIP_READ) {
                    ChunkletStore.StripVersions versions = store.versions(chunkUid, offsetBytes, lengthBytes);
                    new EcSection(versions.n(), EcSection.MODE_NONE, 0, "", versions.versions(), new long[0])
                            .writeTo(out);
                }
                DataFrame.patchHeader(out, headerAt, out.writerIndex() - headerAt - DataFrame.HEADER_BYTES, 0);
                served = true;
            }
        } finally {
            if (!served) {
                out.release();
            }
        }
        if (served) {
            service.metrics().inlineReads.inc();
            reply(requestId, out, CsStatus.OK, lengthBytes);
        }
        return served;
    }

    private void readStrips(long requestId, long chunkUid, long offsetBytes, int lengthBytes) {
        int blocks = lengthBytes >> BLOCK_SHIFT;
        try {
            // A stripe master's strip reads are on an EC write's path: hot ones are answered here too.
            if (replyInline(DataFrame.TYPE_STRIP_READ, requestId, chunkUid, offsetBytes, lengthBytes)) {
                return;
            }
        } catch (CsException e) {
            replyError(DataFrame.TYPE_STRIP_READ, requestId, chunkUid, e.status(), e.getMessage());
            return;
        }
        try {
            service.readers().execute(() -> {
                ByteBuf out = ctx.alloc().directBuffer(DataFrame.HEADER_BYTES + lengthBytes + 4 * blocks + 64);
                int headerAt = out.writerIndex();
                DataFrame.writeHeader(out, DataFrame.TYPE_STRIP_READ | DataFrame.REPLY, 0, requestId, chunkUid, 0,
                        offsetBytes, lengthBytes, 0, 0);
                CsException error = null;
                try {
                    service.store().read(chunkUid, offsetBytes, lengthBytes, out);
                    ChunkletStore.StripVersions versions = service.store().versions(chunkUid, offsetBytes, lengthBytes);
                    new EcSection(versions.n(), EcSection.MODE_NONE, 0, "", versions.versions(), new long[0])
                            .writeTo(out);
                    DataFrame.patchHeader(out, headerAt, out.writerIndex() - headerAt - DataFrame.HEADER_BYTES, 0);
                } catch (CsException e) {
                    error = e;
                } catch (RuntimeException e) {
                    error = new CsException(CsStatus.IO_ERROR, "strip read failed: " + e);
                }
                if (error != null) {
                    out.release();
                    CsException failed = error;
                    ctx.executor().execute(() -> replyError(DataFrame.TYPE_STRIP_READ, requestId, chunkUid,
                            failed.status(), failed.getMessage()));
                } else {
                    ctx.executor().execute(() -> reply(requestId, out, CsStatus.OK, lengthBytes));
                }
            });
        } catch (RejectedExecutionException e) {
            CsException refused = readRefused(service.readers());
            replyError(DataFrame.TYPE_STRIP_READ, requestId, chunkUid, refused.status(), refused.getMessage());
        }
    }

    /** Why {@code readers} refused a read: shutting down (UNAVAILABLE), else its queue is full (BUSY). */
    private static CsException readRefused(java.util.concurrent.ExecutorService readers) {
        return readers.isShutdown()
                ? new CsException(CsStatus.UNAVAILABLE, "chunk server shutting down")
                : new CsException(CsStatus.BUSY, "read queue full: the disk is behind; try again shortly");
    }

    /** STRIP_READ in PEEK mode: versions and pending transactions only, taken under the stripe locks. */
    private void peek(long requestId, long chunkUid, long chunkVersion, long offsetBytes, int lengthBytes,
            EcSection asked, EcLayout layout) throws CsException {
        StripeMaster stripes = service.stripes();
        if (stripes == null) {
            throw new CsException(CsStatus.NOT_SUPPORTED, "this chunk server is not set up for erasure coding");
        }
        int heldWidth = asked.mode() == EcSection.MODE_PEEK_HELD ? (int) asked.txid() : 0;
        stripes.peek(chunkUid, offsetBytes, lengthBytes, heldWidth, layout, chunkVersion).whenComplete((section, error) -> ctx.executor().execute(() -> {
            if (error != null) {
                CsException cs = error instanceof CsException e ? e
                        : new CsException(CsStatus.IO_ERROR, "peek failed: " + error);
                replyError(DataFrame.TYPE_STRIP_READ, requestId, chunkUid, cs.status(), cs.getMessage());
                return;
            }
            ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES + section.encodedBytes());
            int headerAt = out.writerIndex();
            DataFrame.writeHeader(out, DataFrame.TYPE_STRIP_READ | DataFrame.REPLY, 0, requestId, chunkUid, 0,
                    offsetBytes, lengthBytes, 0, 0);
            section.writeTo(out);
            DataFrame.patchHeader(out, headerAt, out.writerIndex() - headerAt - DataFrame.HEADER_BYTES, 0);
            reply(requestId, out, CsStatus.OK, 0);
        }));
    }

    /** Phase one: the strips are logged as pending (durable, not applied) and the master is told OK. */
    private void prepare(ByteBuf frame, long requestId, long chunkUid) throws CsException {
        checkLength(frame);
        long offsetBytes = DataFrame.offsetBytes(frame);
        int lengthBytes = (int) DataFrame.lengthBytes(frame);
        int blocks = lengthBytes >> BLOCK_SHIFT;
        int dataAt = frame.readerIndex() + DataFrame.HEADER_BYTES;
        int payloadBytes = (int) DataFrame.payloadBytes(frame);
        int blockPayloadBytes = lengthBytes + 4 * blocks;
        if (payloadBytes <= blockPayloadBytes) {
            throw new CsException(CsStatus.INVALID, "prepare payload of " + payloadBytes + " bytes for "
                    + lengthBytes + " bytes of strips (data, CRCs and an EC section expected)");
        }
        BlockCrc.verify(frame, dataAt, offsetBytes, blocks, chunkUid);
        EcSection section = EcSection.read(frame, dataAt + blockPayloadBytes, payloadBytes - blockPayloadBytes, blocks);
        if (section.versionsPerBlock() == 0 || section.mode() != EcSection.MODE_BY_DECIDED) {
            throw new CsException(CsStatus.INVALID, "a prepare carries versions and decided generations");
        }
        service.versions().check(chunkUid, DataFrame.chunkVersion(frame));
        service.wal().submit(new WalEntry(WalRecordFormat.TYPE_EC_PREPARE, chunkUid, offsetBytes, lengthBytes,
                frame.retainedSlice(dataAt, payloadBytes), (e, error) -> {
                    if (error == null) {
                        CrashPoints.hit("column.after-prepare", chunkUid);
                    }
                    ctx.executor().execute(() -> replyDone(DataFrame.TYPE_PREPARE, requestId, chunkUid, lengthBytes,
                            error));
                }));
    }

    /** Phase two: commits or aborts a transaction's pending strips on this column (no WAL sync). */
    private void resolve(ByteBuf frame, long requestId, long chunkUid) throws CsException {
        checkLength(frame);
        long offsetBytes = DataFrame.offsetBytes(frame);
        int lengthBytes = (int) DataFrame.lengthBytes(frame);
        int at = frame.readerIndex() + DataFrame.HEADER_BYTES;
        int sectionBytes = (int) DataFrame.payloadBytes(frame);
        EcSection section = EcSection.read(frame, at, sectionBytes, lengthBytes >> BLOCK_SHIFT);
        if (section.mode() == EcSection.MODE_NONE || section.peeks()) {
            throw new CsException(CsStatus.INVALID, "a resolve says commit or abort");
        }
        // Not fenced by the chunk version: a RESOLVE carries an outcome the master already decided,
        // of a strip this column took at its version then; the PendingResolver would apply the same
        // outcome whatever the version is now, only 10 s later, with the strip pending (no reads,
        // its data held in memory, the WAL checkpoint held back) until then. Refused, every RESOLVE
        // in flight when a version moved (a snapshot, a server marked down) waited for that.
        if (!service.store().hasPending(chunkUid, offsetBytes, lengthBytes)) {
            replyDone(DataFrame.TYPE_RESOLVE, requestId, chunkUid, lengthBytes, null); // settled already
            return;
        }
        CrashPoints.hit("column.before-resolve", chunkUid);
        // Applied in order but not logged (WalEntry.unlogged): a lost RESOLVE is settled again by the
        // master's next request, so it need not cost a sync of its own.
        service.wal().submit(new WalEntry(WalRecordFormat.TYPE_EC_RESOLVE, chunkUid, offsetBytes, lengthBytes,
                frame.retainedSlice(at, sectionBytes), (e, error) -> ctx.executor().execute(() ->
                        replyDone(DataFrame.TYPE_RESOLVE, requestId, chunkUid, lengthBytes, error))).unlogged());
    }

    /**
     * Scrub, from the stripe master: one strip of this column that does not fit its stripe, replaced by
     * a REPAIR record that applies only while the block's LSN is the one read here together with the
     * versions the master checked (any write since then wins, and a strip of another write is left).
     */
    private void stripRepair(ByteBuf frame, long requestId, long chunkUid) throws CsException {
        long offsetBytes = DataFrame.offsetBytes(frame);
        int at = frame.readerIndex() + DataFrame.HEADER_BYTES;
        int payloadBytes = (int) DataFrame.payloadBytes(frame);
        int n = payloadBytes >= 4 ? frame.getUnsignedByte(at) : 0;
        if (DataFrame.lengthBytes(frame) != BLOCK_SIZE_BYTES || offsetBytes < 0 || offsetBytes % BLOCK_SIZE_BYTES != 0
                || n == 0 || payloadBytes != 4 + 8 * n + BLOCK_SIZE_BYTES + 4) {
            throw new CsException(CsStatus.INVALID, "STRIP_REPAIR of " + DataFrame.lengthBytes(frame) + " bytes at "
                    + offsetBytes + " with a " + payloadBytes + "-byte payload (one 4096-byte strip, its versions"
                    + " and CRC expected)");
        }
        int stripAt = at + 4 + 8 * n;
        int crc = frame.getInt(stripAt + BLOCK_SIZE_BYTES);
        if (BlockCrc.of(frame, stripAt, BLOCK_SIZE_BYTES) != crc) {
            throw new CsException(CsStatus.BAD_CRC, "STRIP_REPAIR strip fails its CRC32C");
        }
        long chunkVersion = DataFrame.chunkVersion(frame);
        service.versions().check(chunkUid, chunkVersion);
        long[] versions = new long[n];
        for (int j = 0; j < n; j++) {
            versions[j] = frame.getLong(at + 4 + 8 * j);
        }
        long lsn = new ScrubReader(service.store()).lsnIfVersions(chunkUid, (int) (offsetBytes >> BLOCK_SHIFT),
                versions);
        if (lsn == ScrubReader.VERSIONS_CHANGED) {
            throw new CsException(CsStatus.INVALID, "STRIP_REPAIR: the strip at " + offsetBytes
                    + " no longer has the versions the master checked; left as it is");
        }
        ByteBuf payload = StripeVerifier.repairPayload(lsn, chunkVersion, crc, versions,
                frame.slice(stripAt, BLOCK_SIZE_BYTES));
        service.wal().submit(new WalEntry(WalRecordFormat.TYPE_REPAIR, chunkUid, offsetBytes, BLOCK_SIZE_BYTES,
                payload, (e, error) -> ctx.executor().execute(() -> replyDone(DataFrame.TYPE_STRIP_REPAIR, requestId,
                        chunkUid, BLOCK_SIZE_BYTES, error))));
    }

    /** Client to stripe master: the master runs the transaction or reconstruction and answers. */
    private void stripeMaster(ByteBuf frame, int type, long requestId, long chunkUid) throws CsException {
        // The range is chunk-logical (k chunklets wide): the master checks it against the layout.
        long lengthBytes = DataFrame.lengthBytes(frame);
        long offsetBytes = DataFrame.offsetBytes(frame);
        // A rebuild answers one column of the range (at most REBUILD_STRIPES_MAX strips), not the range.
        // A freeze moves no data on the wire: its range may be the whole chunk (the master checks it).
        long lengthMax = type == DataFrame.TYPE_STRIP_REBUILD ? StripeMaster.REBUILD_LENGTH_MAX_BYTES
                : type == DataFrame.TYPE_HOT_FREEZE ? Long.MAX_VALUE : service.lengthMaxBytes();
        if (lengthBytes > lengthMax) {
            throw new CsException(CsStatus.INVALID, "length " + lengthBytes + " (max " + lengthMax + ")");
        }
        StripeMaster master = service.stripes();
        if (master == null) {
            throw new CsException(CsStatus.NOT_SUPPORTED, "this chunk server is not set up as a stripe master");
        }
        master.handle(type, frame.retain()).whenComplete((payload, error) -> ctx.executor().execute(() -> {
            if (error != null) {
                Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
                        ? error.getCause() : error;
                CsException failure = cause instanceof CsException cs ? cs
                        : new CsException(CsStatus.IO_ERROR, "stripe master: " + cause);
                if (!(cause instanceof CsException)) {
                    log.error("stripe master failed on chunk {}", Long.toHexString(chunkUid), cause);
                }
                replyError(type, requestId, chunkUid, failure.status(), failure.getMessage());
                return;
            }
            int payloadBytes = payload == null ? 0 : payload.readableBytes();
            ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES);
            DataFrame.writeHeader(out, type | DataFrame.REPLY, 0, requestId, chunkUid, 0, offsetBytes,
                    lengthBytes, payloadBytes, 0);
            if (payload != null) {
                io.netty.buffer.CompositeByteBuf both = ctx.alloc().compositeBuffer(2);
                both.addComponents(true, out, payload);
                out = both;
            } else if (type != DataFrame.TYPE_HOT_FREEZE) {
                service.metrics().bytesWritten.inc(lengthBytes);
            }
            reply(requestId, out, CsStatus.OK, payload == null ? 0 : (int) lengthBytes);
        }));
    }

    private void replyDone(int type, long requestId, long chunkUid, int lengthBytes, CsException error) {
        if (error != null) {
            replyError(type, requestId, chunkUid, error.status(), error.getMessage());
            return;
        }
        ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES);
        DataFrame.writeHeader(out, type | DataFrame.REPLY, 0, requestId, chunkUid, 0, 0, lengthBytes, 0, 0);
        reply(requestId, out, CsStatus.OK, 0);
    }

    /** Collects the local and replica results of one write; replies when all are in. */
    private final class Gather {
        final int type;
        final long requestId;
        final long chunkUid;
        final int lengthBytes;
        /** The version a primary's write was counted in flight at (ChunkVersions.beginWrite); -1: none. */
        final long inFlightVersion;
        int remaining;
        CsException localError;
        final List<String> replicaErrors = new ArrayList<>(0);

        Gather(int type, long requestId, long chunkUid, int lengthBytes, int parts, long inFlightVersion) {
            this.type = type;
            this.requestId = requestId;
            this.chunkUid = chunkUid;
            this.lengthBytes = lengthBytes;
            this.remaining = parts;
            this.inFlightVersion = inFlightVersion;
        }

        void doneLocal(CsException error) {
            localError = error;
            finishPart();
        }

        void done(String replicaError) {
            if (replicaError != null) {
                replicaErrors.add(replicaError);
            }
            finishPart();
        }

        private void finishPart() {
            if (--remaining > 0) {
                return;
            }
            if (inFlightVersion >= 0) {
                service.versions().endWrite(chunkUid, inFlightVersion);
            }
            if (localError != null) {
                replyError(type, requestId, chunkUid, localError.status(), localError.getMessage());
            } else if (!replicaErrors.isEmpty()) {
                replyError(type, requestId, chunkUid, CsStatus.REPLICA_FAILED, String.join("; ", replicaErrors));
            } else {
                ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES);
                DataFrame.writeHeader(out, type | DataFrame.REPLY, 0, requestId, chunkUid, 0, 0, lengthBytes, 0, 0);
                service.metrics().bytesWritten.inc(lengthBytes);
                reply(requestId, out, CsStatus.OK, 0);
            }
        }
    }

    private static List<String> replicaList(ByteBuf frame, int at, int bytes) throws CsException {
        int end = at + bytes - 4;
        CRC32C crc = new CRC32C();
        crc.update(frame.nioBuffer(at, bytes - 4));
        if ((int) crc.getValue() != frame.getInt(end)) {
            throw new CsException(CsStatus.BAD_CRC, "replica list fails its crc32c");
        }
        int count = frame.getUnsignedByte(at);
        List<String> replicas = new ArrayList<>(count);
        int p = at + 1;
        for (int i = 0; i < count; i++) {
            if (p >= end) {
                throw new CsException(CsStatus.INVALID, "replica list shorter than its count " + count);
            }
            int n = frame.getUnsignedByte(p);
            if (p + 1 + n > end) {
                throw new CsException(CsStatus.INVALID, "replica list entry " + i + " runs past the list");
            }
            replicas.add(frame.toString(p + 1, n, StandardCharsets.UTF_8));
            p += 1 + n;
        }
        if (p != end) {
            throw new CsException(CsStatus.INVALID, "replica list has " + (end - p) + " bytes after its entries");
        }
        return replicas;
    }

    private void zero(ByteBuf frame, int type, long requestId, long chunkUid) throws CsException {
        checkLength(frame);
        if (DataFrame.payloadBytes(frame) != 0) {
            throw new CsException(CsStatus.INVALID, DataFrame.typeName(type) + " carries no payload");
        }
        long chunkVersion = DataFrame.chunkVersion(frame);
        service.versions().check(chunkUid, chunkVersion);
        int lengthBytes = (int) DataFrame.lengthBytes(frame);
        int walType = type == DataFrame.TYPE_TRIM ? WalRecordFormat.TYPE_TRIM : WalRecordFormat.TYPE_WRITE_ZEROES;
        service.wal().submit(new WalEntry(walType, chunkUid, DataFrame.offsetBytes(frame), lengthBytes, null,
                (e, error) -> ctx.executor().execute(() -> {
                    if (error != null) {
                        replyError(type, requestId, chunkUid, error.status(), error.getMessage());
                    } else {
                        ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES);
                        DataFrame.writeHeader(out, type | DataFrame.REPLY, 0, requestId, chunkUid, 0, 0,
                                lengthBytes, 0, 0);
                        reply(requestId, out, CsStatus.OK, 0);
                    }
                })).withChunkVersion(chunkVersion));
    }

    /**
     * BLOCK_MAP: per block of the range its kind, version and CRC32C, metadata only (recovery diffs it
     * against its own chunklet; docs/formats.md). Answered on the event loop: the metadata is in
     * memory. No version check: a reader of metadata changes nothing, and the recovering chunk server
     * asks with the version it was given, which the source may not have heard of yet.
     */
    private void blockMap(ByteBuf frame, long requestId, long chunkUid) throws CsException {
        long lengthBytes = DataFrame.lengthBytes(frame);
        if (lengthBytes > BLOCK_MAP_LENGTH_MAX_BYTES) {
            throw new CsException(CsStatus.INVALID, "BLOCK_MAP length " + lengthBytes + " (max "
                    + BLOCK_MAP_LENGTH_MAX_BYTES + ")");
        }
        long offsetBytes = DataFrame.offsetBytes(frame);
        service.store().checkRange(offsetBytes, lengthBytes);
        int blocks = (int) (lengthBytes >> BLOCK_SHIFT);
        int mapBytes = blocks * WalRecordFormat.FILL_BLOCK_BYTES;
        ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES + mapBytes + 4);
        DataFrame.writeHeader(out, DataFrame.TYPE_BLOCK_MAP | DataFrame.REPLY, 0, requestId, chunkUid, 0,
                offsetBytes, (int) lengthBytes, mapBytes + 4, 0);
        int mapAt = out.writerIndex();
        try {
            service.store().blockMap(chunkUid, offsetBytes, (int) lengthBytes, out);
        } catch (CsException e) {
            out.release();
            throw e;
        }
        out.writeInt(BlockCrc.of(out, mapAt, mapBytes));
        reply(requestId, out, CsStatus.OK, 0);
    }

    /** Largest range one BLOCK_MAP covers: 256 MiB of chunklet, a 832 KiB reply. */
    public static final long BLOCK_MAP_LENGTH_MAX_BYTES = 256L << 20;

    /**
     * INFO is not fenced (any version may ask), but a version newer than the known one is the same
     * hint as for a fenced request: snapshot create polls INFO with the new versions, so this
     * server pulls them at once instead of after its next heartbeat (docs/snapshots.md, "Fencing").
     */
    private void info(long requestId, long chunkUid, long requestVersion) {
        service.versions().note(chunkUid, requestVersion);
        ChunkletStore.ChunkletInfo info = service.store().info(chunkUid);
        ByteBuf out = ctx.alloc().buffer(DataFrame.HEADER_BYTES + DataFrame.INFO_PAYLOAD_BYTES);
        // Direct strip writes of an older version still in flight lower it (ChunkVersions.fencedVersion):
        // a recovery waits until this server fences its version for every write it may still apply.
        long fenced = service.versions().fencedVersion(chunkUid);
        DataFrame.writeHeader(out, DataFrame.TYPE_INFO | DataFrame.REPLY, 0, requestId, chunkUid,
                fenced, 0, 0, DataFrame.INFO_PAYLOAD_BYTES, 0);
        new io.basalt.protocol.data.InfoReply(fenced, info.writtenBlocks(), info.allocatedBytes(), info.lastLsn(),
                info.exists(), service.hot() == null ? 0 : service.hot().count(chunkUid) * 4096L, info.contentDigest(),
                true).writeTo(out);
        reply(requestId, out, CsStatus.OK, 0);
    }

    private void replyError(int type, long requestId, long chunkUid, CsStatus status, String message) {
        reply(requestId, DataFrame.errorReply(ctx.alloc(), type, requestId, chunkUid, status.code, message), status, 0);
    }

    /** Sends {@code out} (ownership passes) as the reply to {@code requestId}, unless it timed out. */
    private void reply(long requestId, ByteBuf out, CsStatus status, int bytesRead) {
        assert ctx.executor().inEventLoop();
        InFlight request = inFlight.remove(requestId);
        if (request == null) {
            out.release(); // answered TIMEOUT already, or the connection closed
            return;
        }
        inFlightBytes -= request.frameBytes();
        service.metrics().requestsInFlight.dec();
        service.metrics().bytesInFlight.dec(request.frameBytes());
        String op = DataFrame.typeName(request.type());
        service.metrics().latency.labelValues(op).observe((System.nanoTime() - request.startNanos()) / 1e9);
        if (status != CsStatus.OK) {
            service.metrics().errors.labelValues(op, status.name()).inc();
        } else if (bytesRead > 0) {
            service.metrics().bytesRead.inc(bytesRead);
        }
        ctx.writeAndFlush(out, ctx.voidPromise());
        if (readingPaused && inFlightBytes <= service.inFlightBytesMax() / 2
                && inFlight.size() <= IN_FLIGHT_REQUESTS_MAX / 2) {
            readingPaused = false;
            ctx.channel().config().setAutoRead(true);
        }
    }

    private void sweepTimeouts() {
        if (inFlight.isEmpty()) {
            return;
        }
        long deadline = System.nanoTime() - TimeUnit.MILLISECONDS.toNanos(service.requestTimeoutMillis());
        List<Long> expired = new ArrayList<>();
        for (LongObjectHashMap.PrimitiveEntry<InFlight> entry : inFlight.entries()) {
            if (entry.value().startNanos() - deadline < 0) {
                expired.add(entry.key());
            }
        }
        for (long requestId : expired) {
            InFlight request = inFlight.get(requestId);
            replyError(request.type(), requestId, 0, CsStatus.TIMEOUT, DataFrame.typeName(request.type())
                    + " not done within " + service.requestTimeoutMillis() + " ms"
                    + (request.type() == DataFrame.TYPE_READ ? "" : "; its outcome is unknown"));
        }
    }

    private void protocolError(DataProtocolException.Kind kind, int type, long requestId, String message) {
        service.metrics().protocolErrors.labelValues(kind.name()).inc();
        log.warn("data connection {}: {}; closing it", ctx.channel().remoteAddress(), message);
        ctx.writeAndFlush(DataFrame.errorReply(ctx.alloc(), type, requestId, 0, CsStatus.PROTOCOL.code, message))
                .addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable error = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (error instanceof DataProtocolException protocol) {
            if (protocol.answerable()) {
                protocolError(protocol.kind(), protocol.requestType(), protocol.requestId(), protocol.getMessage());
            } else {
                service.metrics().protocolErrors.labelValues(protocol.kind().name()).inc();
                log.warn("data connection {}: {}; closing it", ctx.channel().remoteAddress(), protocol.getMessage());
                ctx.close();
            }
        } else if (error instanceof IOException) {
            log.debug("data connection {}: {}", ctx.channel().remoteAddress(), error.toString());
            ctx.close();
        } else {
            log.error("data connection {}: unexpected error; closing it", ctx.channel().remoteAddress(), error);
            ctx.close();
        }
    }
}
