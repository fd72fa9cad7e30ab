package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The section that ends a STRIP_WRITE payload ({@link DataFrame#TYPE_STRIP_WRITE}, docs/formats.md):
 * which data column the strips are for, and the addresses of every data column of the chunk, which
 * the column asks for their versions of the stripes before it picks its own.
 */
public final class StripWriteSection {
    private StripWriteSection() {}

    /** Appends the section for data column {@code column} of an ec(k, m) chunk whose data columns are {@code dataAddresses}. */
    public static void write(ByteBuf out, int column, int k, int m, List<String> dataAddresses) {
        int at = out.writerIndex();
        out.writeByte(DataFrame.STRIP_WRITE_FORMAT_VERSION).writeByte(column).writeByte(k).writeByte(m);
        for (String address : dataAddresses) {
            byte[] bytes = address.getBytes(StandardCharsets.UTF_8);
            out.writeByte(bytes.length).writeBytes(bytes);
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(out.nioBuffer(at, out.writerIndex() - at));
        out.writeInt((int) crc.getValue());
    }

    /**
     * The direct section ({@code bytes} from {@code at}; DataFrame.TYPE_STRIP_WRITE): u8 format version,
     * u8 this column, u8 k, u8 m, k x { u8 n, n bytes "host:port" UTF-8 } (the data columns in order),
     * u32 CRC32C of what precedes it. Returns the data columns' addresses.
     */
    public static List<String> read(ByteBuf frame, int at, long bytes) throws CsException {
        if (bytes < 8 || bytes > 4 + 4 + 256L * 256) {
            throw new CsException(CsStatus.INVALID, "STRIP_WRITE section of " + bytes + " bytes (after the data and"
                    + " a CRC32C each: version, column, k, m, the data columns' addresses and a CRC32C expected)");
        }
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(frame.nioBuffer(at, (int) bytes - 4));
        if ((int) crc.getValue() != frame.getInt(at + (int) bytes - 4)) {
            throw new CsException(CsStatus.BAD_CRC, "STRIP_WRITE section fails its CRC32C");
        }
        if (frame.getUnsignedByte(at) != DataFrame.STRIP_WRITE_FORMAT_VERSION) {
            throw new CsException(CsStatus.INVALID, "STRIP_WRITE format version " + frame.getUnsignedByte(at)
                    + " (this chunk server knows " + DataFrame.STRIP_WRITE_FORMAT_VERSION + ")");
        }
        int column = frame.getUnsignedByte(at + 1);
        int k = frame.getUnsignedByte(at + 2);
        int m = frame.getUnsignedByte(at + 3);
        if (k < 1 || m < 1 || k + m > EcSection.VERSIONS_PER_BLOCK_MAX || column >= k) {
            throw new CsException(CsStatus.INVALID, "STRIP_WRITE to column " + column + " of ec" + k + "+" + m
                    + " (a data column of k, m >= 1, k + m <= 32 expected)");
        }
        List<String> columns = new ArrayList<>(k);
        int p = at + 4;
        int end = at + (int) bytes - 4;
        for (int c = 0; c < k; c++) {
            if (p + 1 > end || p + 1 + frame.getUnsignedByte(p) > end) {
                throw new CsException(CsStatus.INVALID, "STRIP_WRITE section: column " + c + " runs past it");
            }
            int n = frame.getUnsignedByte(p);
            columns.add(frame.toString(p + 1, n, StandardCharsets.UTF_8));
            p += 1 + n;
        }
        if (p != end) {
            throw new CsException(CsStatus.INVALID, "STRIP_WRITE section has " + (end - p) + " bytes after its columns");
        }
        return columns;
    }

}
