package io.basalt.ec;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** Reads isal-vectors.txt, the known answers bench/isal/gen_vectors.c computed with ISA-L. */
record IsalVectors(int dataCount, int parityCount, int lengthBytes, byte[] matrix, byte[][] data,
        byte[][] parity, int updateIndex, byte[] updateData, byte[][] updateParity,
        int decodeErasedCount, byte[] decodeRows) {

    static final String RESOURCE = "isal-vectors.txt";

    @Override
    public String toString() {
        return dataCount + "+" + parityCount + " len " + lengthBytes;
    }

    static List<IsalVectors> load() {
        HexFormat hex = HexFormat.of();
        List<IsalVectors> cases = new ArrayList<>();
        try (InputStream in = IsalVectors.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(RESOURCE + " missing from test resources");
            }
            BufferedReader reader =
                    new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
            int k = 0;
            int m = 0;
            int length = 0;
            byte[] matrix = null;
            List<byte[]> data = new ArrayList<>();
            List<byte[]> parity = new ArrayList<>();
            List<byte[]> updateParity = new ArrayList<>();
            int updateIndex = -1;
            byte[] updateData = null;
            int decodeErased = 0;
            byte[] decodeRows = null;
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                String[] f = line.split(" ");
                switch (f[0]) {
                    case "case" -> {
                        k = Integer.parseInt(f[1].substring(2));
                        m = Integer.parseInt(f[2].substring(2));
                        length = Integer.parseInt(f[3].substring(4));
                        data.clear();
                        parity.clear();
                        updateParity.clear();
                    }
                    case "matrix" -> matrix = hex.parseHex(f[1]);
                    case "data" -> data.add(hex.parseHex(f[2]));
                    case "parity" -> parity.add(hex.parseHex(f[2]));
                    case "update_index" -> updateIndex = Integer.parseInt(f[1]);
                    case "update_data" -> updateData = hex.parseHex(f[1]);
                    case "update_parity" -> updateParity.add(hex.parseHex(f[2]));
                    case "decode_erased" -> decodeErased = Integer.parseInt(f[1]);
                    case "decode_rows" -> decodeRows = hex.parseHex(f[1]);
                    case "end" -> cases.add(new IsalVectors(k, m, length, matrix,
                            data.toArray(byte[][]::new), parity.toArray(byte[][]::new),
                            updateIndex, updateData, updateParity.toArray(byte[][]::new),
                            decodeErased, decodeRows));
                    default -> throw new IllegalStateException("unknown line: " + f[0]);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return cases;
    }
}
