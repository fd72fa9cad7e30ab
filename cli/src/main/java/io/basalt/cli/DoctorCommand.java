package io.basalt.cli;

import io.basalt.common.crc.Crc32c;
import io.basalt.ec.ErasureCodecs;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code basalt doctor}: what this machine's JVM will run on the data path and why: the erasure
 * codec (ISA-L through FFM or the Java Vector API fallback), the CPU's vector shape, and the
 * CRC32C implementation. Read-only; talks to no daemon.
 */
@Command(name = "doctor", mixinStandardHelpOptions = true,
        description = "Show which erasure codec, vector shape and CRC32C this machine runs, and why.")
final class DoctorCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        out.println("erasure codec:  " + erasureCodec());
        out.println("ISA-L:          " + (ErasureCodecs.isalAvailable()
                ? "available"
                : "unavailable: " + ErasureCodecs.isalUnavailableReason()));
        out.println("vector species: " + vectorSpecies());
        out.println("CRC32C:         " + Crc32c.describe());
        out.println("JVM:            " + Runtime.version() + " ("
                + System.getProperty("java.vm.vendor") + "), "
                + Runtime.getRuntime().availableProcessors() + " cpus");
        out.flush();
    }

    private static String erasureCodec() {
        try {
            return ErasureCodecs.describe();
        } catch (LinkageError e) {
            return "unavailable: " + vectorModuleHint(e);
        }
    }

    private static String vectorSpecies() {
        try {
            return "CPU preferred ByteVector "
                    + jdk.incubator.vector.ByteVector.SPECIES_PREFERRED.vectorBitSize()
                    + " bits; Java codec uses " + ErasureCodecs.javaVectorSpecies();
        } catch (LinkageError e) {
            return "unknown: " + vectorModuleHint(e);
        }
    }

    private static String vectorModuleHint(LinkageError e) {
        return "the Vector API module is not loaded (" + e.getClass().getSimpleName()
                + "); run the JVM with --add-modules=jdk.incubator.vector (./basalt does)";
    }
}
