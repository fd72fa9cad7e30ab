package io.basalt.client.object;

import io.basalt.meta.model.s3.ObjectExtent;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * One body streaming into object logs: bytes gathered into {@link #WRITE_BYTES} writes at the log's
 * cursor, at most {@link #WRITES_IN_FLIGHT} in flight (the future {@link #write} returns waits for the
 * oldest when more are: the backpressure a gateway passes on to its client). A body of known length
 * takes one extent of that length; one of unknown length takes {@link #RUN_BYTES} runs, and the unused
 * tail of the last is trimmed at the end. The last block is padded with zeroes (the extent's length says
 * where the object ends).
 */
final class LogBody implements BodyWriter {
    static final int WRITE_BYTES = 1 << 20;
    static final int WRITES_IN_FLIGHT = 8;
    static final long RUN_BYTES = 8L << 20;

    /** A run of log space: [start, end) of one log, {@code used} bytes of it written so far. */
    private static final class Run {
        final LogWriter log;
        final long start;
        final long end;
        long used;

        Run(LogWriter log, long start, long end) {
            this.log = log;
            this.start = start;
            this.end = end;
        }
    }

    private final Supplier<LogWriter> logs;
    private final long expectedLength;
    private final ByteBufAllocator alloc;
    private final List<Run> runs = new ArrayList<>();
    /** Where each log's in-flight mark of this body is: (log, start), settled at commit or abort. */
    private final List<Run> marks = new ArrayList<>();
    private final Deque<CompletableFuture<Void>> writes = new ArrayDeque<>();
    private CompositeByteBuf pending;
    private long length;
    private Throwable failure;
    private boolean finished;
    private boolean aborted;

    LogBody(Supplier<LogWriter> logs, long expectedLength, ByteBufAllocator alloc) {
        this.logs = logs;
        this.expectedLength = expectedLength;
        this.alloc = alloc;
        this.pending = alloc.compositeDirectBuffer(Integer.MAX_VALUE);
    }

    @Override
    public synchronized CompletableFuture<Void> write(ByteBuf data) {
        if (finished || aborted || failure != null) {
            data.release();
            return CompletableFuture.failedFuture(failure != null ? failure
                    : new IllegalStateException("body already " + (aborted ? "aborted" : "finished")));
        }
        length += data.readableBytes();
        pending.addComponent(true, data);
        try {
            while (pending.readableBytes() >= WRITE_BYTES) {
                issue(take(WRITE_BYTES), WRITE_BYTES);
            }
        } catch (RuntimeException | LogWriter.LogFullException e) {
            fail(e);
            return CompletableFuture.failedFuture(failure);
        }
        while (!writes.isEmpty() && writes.peekFirst().isDone()) {
            CompletableFuture<Void> done = writes.pollFirst();
            if (done.isCompletedExceptionally()) {
                fail(done.exceptionNow());
                return CompletableFuture.failedFuture(failure);
            }
        }
        return writes.size() < WRITES_IN_FLIGHT ? CompletableFuture.completedFuture(null)
                : writes.peekFirst().thenApply(ignored -> null);
    }

    /**
     * The next {@code bytes} of {@code pending}, handed over without a copy: retained slices of the
     * buffers the gateway wrote (one, when its writes are 1 MiB buffers, as the S3 gateway's are), which
     * then leave the composite. A retained slice of the composite itself would not do: discarding a read
     * component releases it under the slice, and the retain on the composite was never given back.
     */
    private ByteBuf take(int bytes) {
        List<ByteBuf> parts = pending.decompose(pending.readerIndex(), bytes);
        ByteBuf taken;
        if (parts.size() == 1) {
            taken = parts.getFirst().retain();
        } else {
            CompositeByteBuf joined = alloc.compositeDirectBuffer(parts.size());
            for (ByteBuf part : parts) {
                joined.addComponent(true, part.retain());
            }
            taken = joined;
        }
        pending.skipBytes(bytes);
        pending.discardReadComponents();
        return taken;
    }

    /** Writes {@code bytes} of {@code data} (padded to 4 KiB) at the next place of the current run. */
    private void issue(ByteBuf data, int bytes) throws LogWriter.LogFullException {
        int padded = (int) LogWriter.align(bytes);
        if (padded > bytes) {
            ByteBuf whole = alloc.directBuffer(padded);
            whole.writeBytes(data, data.readerIndex(), bytes).writeZero(padded - bytes);
            data.release();
            data = whole;
        }
        int at = 0;
        while (at < padded) {
            Run run = currentRun(padded - at);
            int piece = (int) Math.min(padded - at, run.end - run.start - run.used);
            long offset = run.start + run.used;
            run.used += piece;
            ByteBuf slice = data.retainedSlice(at, piece);
            writes.addLast(run.log.write(offset, slice));
            at += piece;
        }
        data.release();
    }

    /** The run to write into, a new one when the last is used up (from a new log when the log is full). */
    private Run currentRun(long wanted) throws LogWriter.LogFullException {
        Run last = runs.isEmpty() ? null : runs.get(runs.size() - 1);
        if (last != null && last.used < last.end - last.start) {
            return last;
        }
        long size = runs.isEmpty() && expectedLength >= 0 ? Math.max(LogWriter.align(expectedLength), wanted)
                : Math.max(RUN_BYTES, LogWriter.align(wanted));
        for (int attempt = 0; ; attempt++) {
            LogWriter log = logs.get();
            boolean first = marks.stream().noneMatch(mark -> mark.log == log);
            try {
                long start = log.allocate(size, first);
                Run run = new Run(log, start, start + LogWriter.align(size));
                runs.add(run);
                if (first) {
                    marks.add(run);
                }
                return run;
            } catch (LogWriter.LogFullException e) {
                if (attempt >= 2) {
                    throw e;
                }
            }
        }
    }

    @Override
    public synchronized CompletableFuture<Written> finish() {
        if (aborted || failure != null) {
            return CompletableFuture.failedFuture(failure != null ? failure
                    : new IllegalStateException("body aborted"));
        }
        finished = true;
        try {
            int rest = pending.readableBytes();
            if (rest > 0) {
                issue(take(rest), rest);
            }
        } catch (RuntimeException | LogWriter.LogFullException e) {
            fail(e);
            return CompletableFuture.failedFuture(failure);
        } finally {
            pending.release();
            pending = null;
        }
        CompletableFuture<?>[] all = writes.toArray(CompletableFuture[]::new);
        return CompletableFuture.allOf(all).thenApply(ignored -> {
            synchronized (this) {
                List<ObjectExtent> extents = new ArrayList<>();
                long left = length;
                for (Run run : runs) {
                    long bytes = Math.min(left, run.used);
                    if (bytes > 0) {
                        extents.add(new ObjectExtent(run.log.logId(), run.start, bytes));
                    }
                    left -= bytes;
                    run.log.trimLater(run.start + LogWriter.align(bytes), run.end - run.start - LogWriter.align(bytes));
                }
                return new Written(length, List.copyOf(extents));
            }
        }).whenComplete((written, error) -> {
            if (error != null) {
                fail(error);
                abort();
            }
        });
    }

    /** The body is named by a committed object or part: it no longer holds any log's reservation back. */
    synchronized void committed() {
        for (Run mark : marks) {
            mark.log.settled(mark.start);
        }
        marks.clear();
    }

    @Override
    public synchronized void abort() {
        if (aborted) {
            return;
        }
        aborted = true;
        if (pending != null) {
            pending.release();
            pending = null;
        }
        List<Run> toTrim = List.copyOf(runs);
        List<Run> toSettle = List.copyOf(marks);
        marks.clear();
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).handle((ignored, error) -> {
            for (Run run : toTrim) {
                run.log.trimLater(run.start, run.end - run.start);
            }
            for (Run mark : toSettle) {
                mark.log.settled(mark.start);
            }
            return null;
        });
    }

    private synchronized void fail(Throwable error) {
        if (failure == null) {
            failure = error instanceof java.util.concurrent.CompletionException c && c.getCause() != null
                    ? c.getCause() : error;
        }
    }
}
