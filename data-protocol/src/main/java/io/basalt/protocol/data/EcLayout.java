package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Where the columns of one erasure-coded chunk are, as the client tells the stripe master (it holds
 * the chunk map; the chunk server knows nothing global): k data and m parity columns in stripe order,
 * each with its address and its part: usable (UPTODATE in meta's map: read and written), recovering
 * (RECOVERING: written, so that it misses nothing while it is rebuilt, but never read) or skipped (left
 * for the recoverer), and which column the receiving master is.
 *
 * <pre>
 *   u8 k, u8 m, u8 masterIndex, u8 reserved 0
 *   (k + m) x { u8 part (0 skipped, 1 usable, 2 recovering), u8 n, n bytes "host:port" UTF-8 }
 *   u32 CRC32C of the preceding bytes
 * </pre>
 *
 * <p>Geometry: a stripe is k strips of {@link #STRIP_BYTES}; chunk-logical byte {@code x} is in stripe
 * {@code x / (k * 4096)}, column {@code (x / 4096) % k}, at chunklet offset
 * {@code stripe * 4096 + x % 4096}.
 */
public record EcLayout(int k, int m, int masterIndex, List<String> addresses, List<Boolean> usable,
        List<Boolean> recovering) {
    public static final int STRIP_BYTES = 4096;

    public EcLayout {
        addresses = List.copyOf(addresses);
        usable = List.copyOf(usable);
        recovering = List.copyOf(recovering);
    }

    /** A layout without RECOVERING columns. */
    public EcLayout(int k, int m, int masterIndex, List<String> addresses, List<Boolean> usable) {
        this(k, m, masterIndex, addresses, usable, java.util.Collections.nCopies(usable.size(), false));
    }

    /** Whether a write must reach the column: it is usable, or RECOVERING. */
    public boolean writable(int column) {
        return usable.get(column) || recovering.get(column);
    }

    /** Whether some column is RECOVERING (its strips are missing or old: never a read source). */
    public boolean anyRecovering() {
        return recovering.contains(true);
    }

    public int width() {
        return k + m;
    }

    public long stripeBytes() {
        return (long) k * STRIP_BYTES;
    }

    public int usableCount() {
        int count = 0;
        for (boolean u : usable) {
            count += u ? 1 : 0;
        }
        return count;
    }

    public String address(int column) {
        return addresses.get(column);
    }

    public boolean usable(int column) {
        return usable.get(column);
    }

    public int encodedBytes() {
        int bytes = 4 + 4;
        for (String address : addresses) {
            bytes += 2 + address.getBytes(StandardCharsets.UTF_8).length;
        }
        return bytes;
    }

    public void writeTo(ByteBuf out) {
        int at = out.writerIndex();
        out.writeByte(k).writeByte(m).writeByte(masterIndex).writeByte(0);
        for (int i = 0; i < width(); i++) {
            byte[] address = addresses.get(i).getBytes(StandardCharsets.UTF_8);
            out.writeByte(usable.get(i) ? 1 : recovering.get(i) ? 2 : 0).writeByte(address.length)
                    .writeBytes(address);
        }
        CRC32C crc = new CRC32C();
        crc.update(out.nioBuffer(at, out.writerIndex() - at));
        out.writeInt((int) crc.getValue());
    }

    public static EcLayout read(ByteBuf in, int at, int bytes) throws CsException {
        if (bytes < 8) {
            throw new CsException(CsStatus.INVALID, "EC layout of " + bytes + " bytes");
        }
        CRC32C crc = new CRC32C();
        crc.update(in.nioBuffer(at, bytes - 4));
        if ((int) crc.getValue() != in.getInt(at + bytes - 4)) {
            throw new CsException(CsStatus.BAD_CRC, "EC layout fails its crc32c");
        }
        int k = in.getUnsignedByte(at);
        int m = in.getUnsignedByte(at + 1);
        int masterIndex = in.getUnsignedByte(at + 2);
        if (k < 1 || m < 1 || k + m > EcSection.VERSIONS_PER_BLOCK_MAX || masterIndex < k || masterIndex >= k + m) {
            throw new CsException(CsStatus.INVALID, "EC layout k=" + k + " m=" + m + " master column " + masterIndex
                    + " (k, m >= 1, k + m <= 32, the master is a parity column)");
        }
        List<String> addresses = new ArrayList<>(k + m);
        List<Boolean> usable = new ArrayList<>(k + m);
        List<Boolean> recovering = new ArrayList<>(k + m);
        int p = at + 4;
        int end = at + bytes - 4;
        for (int i = 0; i < k + m; i++) {
            if (p + 2 > end || p + 2 + in.getUnsignedByte(p + 1) > end) {
                throw new CsException(CsStatus.INVALID, "EC layout column " + i + " runs past the layout");
            }
            int n = in.getUnsignedByte(p + 1);
            int part = in.getUnsignedByte(p);
            if (part > 2) {
                throw new CsException(CsStatus.INVALID, "EC layout column " + i + " has part " + part
                        + " (0 skipped, 1 usable, 2 recovering)");
            }
            usable.add(part == 1);
            recovering.add(part == 2);
            addresses.add(in.toString(p + 2, n, StandardCharsets.UTF_8));
            p += 2 + n;
        }
        if (p != end) {
            throw new CsException(CsStatus.INVALID, "EC layout has " + (end - p) + " bytes after its columns");
        }
        if (!usable.get(masterIndex)) {
            throw new CsException(CsStatus.INVALID, "EC layout names an unusable column as master");
        }
        return new EcLayout(k, m, masterIndex, addresses, usable, recovering);
    }
}
