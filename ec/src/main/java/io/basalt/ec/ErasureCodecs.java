package io.basalt.ec;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes {@link ErasureCodec}s and says which implementation runs and why.
 *
 * <p>The choice is made once, when this class is first used, and logged: ISA-L through FFM if
 * {@code libisal.so.2} loads, else the pure-Java Vector API codec. Both produce the same bytes.
 * {@code -Dbasalt.ec.impl=auto|native|java} overrides it: {@code native} makes a missing
 * library a start-up error instead of a silent slowdown, {@code java} skips ISA-L.
 */
public final class ErasureCodecs {
    private static final Logger LOG = LoggerFactory.getLogger(ErasureCodecs.class);
    private static final String IMPL_PROPERTY = "basalt.ec.impl";

    /** The implementations; every one is byte-for-byte compatible with ISA-L. */
    public enum Implementation {
        /** ISA-L's own kernels ({@code libisal.so.2}) called through the FFM API. */
        ISAL_NATIVE,
        /** Pure Java: split-nibble tables on the Vector API ({@code jdk.incubator.vector}). */
        JAVA_VECTOR
    }

    private static final Implementation SELECTED;
    private static final String REASON;

    static {
        String requested = System.getProperty(IMPL_PROPERTY, "auto");
        switch (requested) {
            case "auto" -> {
                if (IsaL.available()) {
                    SELECTED = Implementation.ISAL_NATIVE;
                    REASON = IsaL.LIBRARY + " loaded";
                } else {
                    SELECTED = Implementation.JAVA_VECTOR;
                    REASON = "ISA-L unavailable: " + IsaL.unavailableReason();
                }
            }
            case "native" -> {
                if (!IsaL.available()) {
                    throw new IllegalStateException(IMPL_PROPERTY + "=native but ISA-L is "
                            + "unavailable: " + IsaL.unavailableReason());
                }
                SELECTED = Implementation.ISAL_NATIVE;
                REASON = IMPL_PROPERTY + "=native";
            }
            case "java" -> {
                SELECTED = Implementation.JAVA_VECTOR;
                REASON = IMPL_PROPERTY + "=java";
            }
            default -> throw new IllegalStateException(IMPL_PROPERTY + "=" + requested
                    + " (expected auto, native or java)");
        }
        LOG.info("erasure codec: {}", describe());
        if (SELECTED == Implementation.JAVA_VECTOR && !vectorModule()) {
            LOG.error("erasure codec: none: {}", noJavaCodec());
        } else if (SELECTED == Implementation.JAVA_VECTOR && !JavaErasureCodec.hardwareVectors()) {
            LOG.warn("erasure codec: this CPU has no {}-bit vectors; the Java codec runs "
                    + "without SIMD and will be very slow; install libisal2",
                    JavaErasureCodec.SPECIES.vectorBitSize());
        }
    }

    private ErasureCodecs() {}

    /** A k+m codec of the selected implementation. */
    public static ErasureCodec create(int dataStripCount, int parityStripCount) {
        return create(SELECTED, dataStripCount, parityStripCount);
    }

    /**
     * A k+m codec of the given implementation.
     *
     * @throws IllegalStateException if it is {@link Implementation#ISAL_NATIVE} and ISA-L is
     *     not available
     */
    public static ErasureCodec create(Implementation implementation, int dataStripCount,
            int parityStripCount) {
        AbstractErasureCodec.checkShape(dataStripCount, parityStripCount);
        return switch (implementation) {
            case ISAL_NATIVE -> {
                if (!IsaL.available()) {
                    throw new IllegalStateException(
                            "ISA-L is not available: " + IsaL.unavailableReason());
                }
                yield new IsalErasureCodec(dataStripCount, parityStripCount);
            }
            case JAVA_VECTOR -> {
                if (!vectorModule()) {
                    throw new IllegalStateException(noJavaCodec());
                }
                yield new JavaErasureCodec(dataStripCount, parityStripCount);
            }
        };
    }

    /**
     * Whether the JVM runs with {@code jdk.incubator.vector}, which the Java codec needs. The
     * launcher leaves it out of daemons when ISA-L is installed: with a module option JDK 25's
     * ahead-of-time cache holds no linked classes, and start-up costs more.
     */
    public static boolean vectorModule() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    private static String noJavaCodec() {
        String why = IsaL.available() ? "the Java codec is selected (" + IMPL_PROPERTY + "=java)"
                : "ISA-L is unavailable (" + IsaL.unavailableReason() + ")";
        return why + " and this JVM runs without the jdk.incubator.vector module the Java codec needs; install"
                + " libisal2, or start with --add-modules=jdk.incubator.vector";
    }

    /** The implementation {@link #create(int, int)} uses. */
    public static Implementation selected() {
        return SELECTED;
    }

    /** Why that implementation was chosen. */
    public static String selectionReason() {
        return REASON;
    }

    /** Whether ISA-L loaded (whether or not it was selected). */
    public static boolean isalAvailable() {
        return IsaL.available();
    }

    /** Why ISA-L did not load, or null if it did. */
    public static String isalUnavailableReason() {
        return IsaL.unavailableReason();
    }

    /** The Java codec's vector shape, e.g. "ByteVector 256 bits (32 lanes)". */
    public static String javaVectorSpecies() {
        if (!vectorModule()) {
            return "none: this JVM runs without jdk.incubator.vector";
        }
        return "ByteVector " + JavaErasureCodec.SPECIES.vectorBitSize() + " bits ("
                + JavaErasureCodec.SPECIES.length() + " lanes"
                + (JavaErasureCodec.hardwareVectors() ? "" : ", NOT in hardware: slow") + ")";
    }

    /** One line for logs and {@code basalt doctor}: implementation and why. */
    public static String describe() {
        return switch (SELECTED) {
            case ISAL_NATIVE -> "ISA-L native (" + IsaL.LIBRARY + " via FFM); " + REASON;
            case JAVA_VECTOR -> "pure Java Vector API (" + javaVectorSpecies() + "); " + REASON;
        };
    }
}
