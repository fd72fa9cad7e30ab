package io.basalt.nbd;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Which NBD clients may open which exports ({@code basalt nbd run --allow EXPORT=NAME,...}): a
 * client is named by its TLS certificate (the holder, its CN), so a list applies only to clients
 * that came in through STARTTLS; a plain-text client is refused every listed export.
 *
 * <p>The list that applies to an export is the first of: its own ({@code vm1}, or a snapshot's
 * {@code vm1@s1}), for a snapshot its volume's ({@code vm1}), then {@code *}. An export no list
 * applies to is open to every client the gateway accepts (what it was before lists existed).
 * Thread-safe (immutable).
 */
public record NbdAccess(Map<String, Set<String>> lists) {
    /** No lists: every export open to every client. */
    public static final NbdAccess OPEN = new NbdAccess(Map.of());
    /** The export pattern of the list that applies to exports no other list names. */
    public static final String EVERY_EXPORT = "*";

    public NbdAccess {
        lists = Map.copyOf(lists);
    }

    /**
     * Parses {@code EXPORT=NAME[,NAME...]} specs; the same export twice adds the names up. Throws
     * IllegalArgumentException with a one-line reason naming the bad spec.
     */
    public static NbdAccess parse(List<String> specs) {
        Map<String, Set<String>> lists = new TreeMap<>();
        for (String spec : specs) {
            int equals = spec.indexOf('=');
            String export = equals < 0 ? "" : spec.substring(0, equals).trim();
            if (equals < 0 || export.isEmpty()) {
                throw new IllegalArgumentException("--allow " + spec + ": expected EXPORT=NAME[,NAME...] (EXPORT a"
                        + " volume, a snapshot vol@snap, or * for every other export; NAME a client certificate's name)");
            }
            Set<String> names = lists.computeIfAbsent(export, key -> new LinkedHashSet<>());
            for (String name : spec.substring(equals + 1).split(",")) {
                if (name.isBlank()) {
                    throw new IllegalArgumentException("--allow " + spec + ": an empty client name");
                }
                names.add(name.trim());
            }
        }
        return new NbdAccess(lists);
    }

    public boolean isOpen() {
        return lists.isEmpty();
    }

    /** The names allowed to open {@code export}, or null when every client may. */
    public Set<String> allowed(String export) {
        Set<String> own = lists.get(export);
        if (own != null) {
            return own;
        }
        int at = export.indexOf('@');
        if (at > 0 && lists.containsKey(export.substring(0, at))) {
            return lists.get(export.substring(0, at));
        }
        return lists.get(EVERY_EXPORT);
    }

    /**
     * Why the client named {@code clientName} (null: a plain-text client, no certificate) may not
     * open {@code export}, or null when it may.
     */
    public String refusal(String export, String clientName) {
        Set<String> allowed = allowed(export);
        if (allowed == null || (clientName != null && allowed.contains(clientName))) {
            return null;
        }
        return clientName == null
                ? "export \"" + export + "\" is open only to the clients " + allowed
                        + "; connect with TLS (nbds://...?tls-certificates=DIR)"
                : "export \"" + export + "\" is open only to the clients " + allowed + ", not to "
                        + clientName;
    }
}
