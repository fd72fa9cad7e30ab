package io.basalt.nbd;

import io.basalt.common.block.BlockDevice;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * What an NBD server exports: one file for {@code basalt nbd serve}, every volume for the cluster
 * gateway. Asynchronous because finding a volume or taking its lease is a call to meta, and the
 * handshake runs on an event loop.
 */
public interface NbdExports {

    /** Every export, for NBD_OPT_LIST. */
    CompletableFuture<List<ExportInfo>> list();

    /** Describes an export without opening it (NBD_OPT_INFO); empty when unknown. */
    CompletableFuture<Optional<ExportInfo>> describe(String name);

    /**
     * Opens an export for a session (NBD_OPT_GO, NBD_OPT_EXPORT_NAME). Fails with
     * {@link UnknownExportException} when there is no such export. The session calls
     * {@link OpenExport#release()} when it ends.
     */
    CompletableFuture<OpenExport> open(String name);

    /** A session's hold on an export. */
    record OpenExport(ExportInfo info, BlockDevice device, Runnable release) {
        public void releaseQuietly() {
            release.run();
        }
    }

    /**
     * What a client learns about an export before it opens it.
     *
     * @param multiConn flush on one connection covers writes of all ({@link
     *     BlockDevice#sharedCacheAcrossClients()})
     */
    record ExportInfo(String name, String description, long sizeBytes, boolean readOnly, boolean multiConn,
            int minimumBlockSizeBytes, int preferredBlockSizeBytes, int maximumPayloadBytes, boolean fastZero) {

        public static ExportInfo of(String name, String description, BlockDevice device) {
            return new ExportInfo(name, description, device.sizeBytes(), device.isReadOnly(),
                    device.sharedCacheAcrossClients(), device.minimumBlockSizeBytes(),
                    device.preferredBlockSizeBytes(), device.maximumPayloadBytes(), device.supportsFastZero());
        }

        /** The transmission flags NBD advertises for this export. */
        public int transmissionFlags(boolean structuredReplies) {
            int flags = NbdProtocol.FLAG_HAS_FLAGS | NbdProtocol.FLAG_SEND_FLUSH | NbdProtocol.FLAG_SEND_FUA
                    | NbdProtocol.FLAG_SEND_CACHE;
            if (readOnly) {
                flags |= NbdProtocol.FLAG_READ_ONLY;
            } else {
                flags |= NbdProtocol.FLAG_SEND_TRIM | NbdProtocol.FLAG_SEND_WRITE_ZEROES;
                if (fastZero) {
                    flags |= NbdProtocol.FLAG_SEND_FAST_ZERO;
                }
            }
            if (multiConn) {
                flags |= NbdProtocol.FLAG_CAN_MULTI_CONN;
            }
            if (structuredReplies) {
                flags |= NbdProtocol.FLAG_SEND_DF; // every read is answered in one data chunk
            }
            return flags;
        }
    }

    /** No export of that name. */
    final class UnknownExportException extends RuntimeException {
        public UnknownExportException(String name) {
            super("no export named \"" + name + "\"");
        }
    }

    /** Exports one device under one name, and as the default export "". */
    static NbdExports single(String name, String description, BlockDevice device) {
        ExportInfo info = ExportInfo.of(name, description, device);
        return new NbdExports() {
            private boolean matches(String requested) {
                return requested.equals(name) || requested.isEmpty();
            }

            @Override
            public CompletableFuture<List<ExportInfo>> list() {
                return CompletableFuture.completedFuture(List.of(info));
            }

            @Override
            public CompletableFuture<Optional<ExportInfo>> describe(String requested) {
                return CompletableFuture.completedFuture(matches(requested) ? Optional.of(info) : Optional.empty());
            }

            @Override
            public CompletableFuture<OpenExport> open(String requested) {
                if (!matches(requested)) {
                    return CompletableFuture.failedFuture(new UnknownExportException(requested));
                }
                return CompletableFuture.completedFuture(new OpenExport(info, device, () -> {}));
            }
        };
    }
}
