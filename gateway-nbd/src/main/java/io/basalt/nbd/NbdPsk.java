package io.basalt.nbd;

import io.basalt.common.io.FileStamp;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pre-shared keys NBD clients may start TLS with instead of a certificate (the simplest
 * deployments: one secret per client, no CA on the client's side). The file is the one GnuTLS'
 * {@code psktool}, qemu's {@code tls-creds-psk} ({@code keys.psk}) and libnbd's
 * {@code tls-psk-file} use: one {@code USERNAME:HEXKEY} line per client. Here also: blank lines
 * and {@code #} comments are skipped, a key has at least 16 bytes, a username appears once, and the
 * file is readable by its owner only (it holds secrets).
 *
 * <p>The file is read at start (a bad one stops the gateway with one line naming the line) and
 * again, on a handshake, when it changed (at most every {@code -Dbasalt.tls.reloadCheckMillis},
 * 2 s): clients are added and removed without a restart. A changed file that does not parse is
 * refused with one WARN line and the keys in force stay. Thread-safe.
 */
public final class NbdPsk {
    private static final Logger log = LoggerFactory.getLogger(NbdPsk.class);
    /** Fewer bytes than this is a password, not a key: psktool makes 32. */
    static final int KEY_BYTES_MIN = 16;
    static final int USERNAME_BYTES_MAX = 255;

    private record Keys(Map<String, byte[]> byUser, FileStamp stamp) {}

    private final Path file;
    private final FileStamp.Check check;
    private volatile Keys keys;
    private FileStamp refused;

    private NbdPsk(Path file, Keys keys, long checkMillis) {
        this.file = file;
        this.keys = keys;
        this.check = new FileStamp.Check(checkMillis);
    }

    /** Reads {@code file}; an IOException names what is wrong and how to mend it. */
    public static NbdPsk load(Path file) throws IOException {
        return load(file, Long.getLong("basalt.tls.reloadCheckMillis", 2000));
    }

    static NbdPsk load(Path file, long checkMillis) throws IOException {
        return new NbdPsk(file, read(file), checkMillis);
    }

    public Path file() {
        return file;
    }

    /** The key of {@code username}, or null when the file names no such client. */
    public byte[] key(String username) {
        if (check.due()) {
            reloadIfChanged();
        }
        byte[] key = keys.byUser().get(username);
        return key == null ? null : key.clone();
    }

    /** The usernames in force (for logs and tests). */
    public Set<String> usernames() {
        return keys.byUser().keySet();
    }

    /** Reads the file again if it changed; public for tests that must not wait. */
    public synchronized void reloadIfChanged() {
        FileStamp stamp;
        try {
            stamp = FileStamp.of(file);
        } catch (IOException e) {
            return; // being replaced: look again at the next check
        }
        if (stamp.equals(keys.stamp()) || stamp.equals(refused)) {
            return;
        }
        try {
            Keys next = read(file);
            keys = next;
            refused = null;
            log.info("NBD TLS: pre-shared keys of {} client(s) now in force ({})", next.byUser().size(), file);
        } catch (IOException e) {
            refused = stamp;
            log.warn("NBD TLS: not taking the changed pre-shared key file: {}; the {} key(s) in force stay",
                    e.getMessage(), keys.byUser().size());
        }
    }

    /**
     * Adds a client with a new random 32-byte key to {@code file} (created, owner-only, when missing;
     * replaced whole by a rename, so a gateway reading it never sees half a line). Refuses a name the
     * file has already, or a file that does not parse.
     */
    public static void add(Path file, String username) throws IOException {
        if (username.isEmpty() || username.contains(":") || username.strip().length() != username.length()
                || username.startsWith("#") || username.getBytes(StandardCharsets.UTF_8).length > USERNAME_BYTES_MAX) {
            throw new IOException("username \"" + username + "\": 1.." + USERNAME_BYTES_MAX
                    + " bytes, no ':', not starting with '#' or a space");
        }
        StringBuilder text = new StringBuilder();
        if (Files.exists(file)) {
            if (read(file).byUser().containsKey(username)) {
                throw new IOException(username + " has a key in " + file + " already");
            }
            text.append(Files.readString(file, StandardCharsets.UTF_8));
            if (!text.isEmpty() && text.charAt(text.length() - 1) != '\n') {
                text.append('\n');
            }
        }
        byte[] key = new byte[32];
        new java.security.SecureRandom().nextBytes(key);
        text.append(username).append(':').append(HexFormat.of().formatHex(key)).append('\n');
        io.basalt.common.io.DurableFiles.replaceAtomically(file, text.toString(), "rw-------");
    }

    private static Keys read(Path file) throws IOException {
        FileStamp stamp = FileStamp.of(file);
        Set<PosixFilePermission> permissions;
        try {
            permissions = Files.getPosixFilePermissions(file);
        } catch (UnsupportedOperationException e) {
            // A file system without POSIX modes (not one Basalt runs on: Linux only): nothing to check.
            permissions = Set.of();
        }
        for (PosixFilePermission permission : permissions) {
            if (permission.name().startsWith("GROUP") || permission.name().startsWith("OTHERS")) {
                throw new IOException("pre-shared key file " + file + " is readable by others; it holds secrets:"
                        + " chmod 600 " + file);
            }
        }
        Map<String, byte[]> byUser = new LinkedHashMap<>();
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String where = file + " line " + (i + 1);
            int colon = line.lastIndexOf(':');
            if (colon <= 0) {
                throw new IOException(where + ": expected USERNAME:HEXKEY (as psktool writes it)");
            }
            String user = line.substring(0, colon);
            if (user.getBytes(StandardCharsets.UTF_8).length > USERNAME_BYTES_MAX) {
                throw new IOException(where + ": username longer than " + USERNAME_BYTES_MAX + " bytes");
            }
            byte[] key;
            try {
                key = HexFormat.of().parseHex(line.substring(colon + 1));
            } catch (IllegalArgumentException e) {
                throw new IOException(where + ": the key of " + user + " is not hexadecimal");
            }
            if (key.length < KEY_BYTES_MIN) {
                throw new IOException(where + ": the key of " + user + " has " + key.length + " bytes; at least "
                        + KEY_BYTES_MIN + " (make one with: basalt nbd psk " + user + " --file " + file + ")");
            }
            if (byUser.putIfAbsent(user, key) != null) {
                throw new IOException(where + ": " + user + " has a key on an earlier line already");
            }
        }
        if (byUser.isEmpty()) {
            throw new IOException("pre-shared key file " + file + " names no client (USERNAME:HEXKEY lines)");
        }
        return new Keys(Map.copyOf(byUser), stamp);
    }
}
