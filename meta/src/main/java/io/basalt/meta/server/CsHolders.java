package io.basalt.meta.server;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.util.zip.CRC32C;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which certificate holder each chunk server id belongs to (docs/security.md, "Own chunklets
 * only"). Meta assigns ids, certificates name holders ("cs3"): the first registration of an id
 * that carries a holder binds the two, and from then on only that holder may register the id
 * again, heartbeat for it or report its recoveries. The claim itself (the request's holder field)
 * is checked against the sender's certificate by {@link MetaAuthorizer} before the request
 * reaches Ratis; this class keeps the binding, as replicated state, so the check is the same on
 * every member and survives leader changes.
 *
 * <p>An id registered without a holder (a cluster run --insecure, or one from before this rule)
 * stays unbound until a registration with a holder binds it. A request without a holder for a
 * bound id is refused: only a certificate of the holder may speak for it.
 *
 * <p>Key {@code "csHolder/" | u32 csId} in the default column family; value {@code u8
 * formatVersion (1) | string holder | u32 CRC32C of the bytes before it}.
 */
final class CsHolders {
    private static final Logger log = LoggerFactory.getLogger(CsHolders.class);
    static final int FORMAT_VERSION = 1;

    private CsHolders() {}

    static byte[] key(int csId) {
        return Keys.asciiU32("csHolder/", csId);
    }

    /** The holder bound to {@code csId}, or null when none is. */
    static String bound(MetaStore store, int csId) {
        return decode(store.get(Table.META, key(csId)));
    }

    static String bound(Tx tx, int csId) {
        return decode(tx.get(Table.META, key(csId)));
    }

    /** Binds {@code csId} to {@code holder} (nothing for an empty holder). */
    static void bind(Tx tx, int csId, String holder) {
        if (!holder.isEmpty()) {
            tx.put(Table.META, key(csId), encode(holder));
        }
    }

    /**
     * The FORBIDDEN reply for a request about {@code csId} that claims {@code holder}, or null
     * when the claim may speak for it (the id is unbound, or bound to that holder).
     */
    static byte[] refusal(String bound, int csId, String holder, String what) {
        if (bound == null || bound.equals(holder)) {
            return null;
        }
        String why = what + " for cs " + csId + " refused: cs " + csId
                + " belongs to certificate " + bound + ", and this request comes from "
                + (holder.isEmpty() ? "a sender without a certificate name" : "certificate " + holder);
        log.warn("{}", why);
        return MetaReply.error(MetaError.FORBIDDEN, why
                + "; start each chunk server with its own --tls-dir (basalt cert list shows the holders)");
    }

    static byte[] encode(String holder) {
        WireWriter out = new WireWriter().u8(FORMAT_VERSION).string(holder);
        byte[] body = out.toByteArray();
        CRC32C crc = new CRC32C();
        crc.update(body);
        return new WireWriter(body.length + 4).bytes(body).i32((int) crc.getValue()).toByteArray();
    }

    static String decode(byte[] value) {
        if (value == null) {
            return null;
        }
        CRC32C crc = new CRC32C();
        crc.update(value, 0, value.length - 4);
        WireReader in = new WireReader(value);
        int version = in.u8();
        if (version != FORMAT_VERSION) {
            throw new IllegalStateException("csHolder record format " + version + " (this meta knows "
                    + FORMAT_VERSION + ")");
        }
        String holder = in.string();
        int stored = in.i32();
        in.end();
        if (stored != (int) crc.getValue()) {
            throw new IllegalStateException("csHolder record CRC32C mismatch");
        }
        return holder;
    }
}
