package io.basalt.cli;

import io.basalt.nbd.NbdPsk;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code basalt nbd psk NAME --file FILE}: a new pre-shared key for an NBD client. */
@Command(name = "psk", mixinStandardHelpOptions = true,
        description = {"Give an NBD client a TLS pre-shared key: a new random 32-byte key for NAME, added to"
                + " FILE (created owner-only when missing), which the gateway takes as --tls-psk FILE and the"
                + " client as its key file.",
                "Example: basalt nbd psk alice --file /etc/basalt/nbd.psk, then: nbdinfo"
                        + " 'nbds://alice@HOST:10809/vm1?tls-psk-file=/etc/basalt/nbd.psk'"})
final class NbdPskCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME", description = "The client's username (its PSK identity).")
    String name;

    @Option(names = "--file", required = true, paramLabel = "FILE",
            description = "The key file (USERNAME:HEXKEY lines, as psktool writes them).")
    Path file;

    @Override
    public Integer call() {
        try {
            NbdPsk.add(file, name);
        } catch (java.io.IOException e) {
            throw new UserError("nbd psk: " + e.getMessage());
        }
        System.out.println("added a key for " + name + " to " + file + "; give the client its line (grep '^" + name
                + ":' " + file + ") as its own key file");
        return 0;
    }
}
