package io.basalt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.common.tls.TlsIdentity;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** basalt cert init|issue|list|revoke in-process: what each prints, the files, and the refusals. */
class CertCommandTest {
    @TempDir
    Path dir;

    private record Run(int exitCode, String out, String err) {}

    private Run run(String... args) {
        PrintStream out = System.out;
        PrintStream err = System.err;
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream stderr = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(stderr, true, StandardCharsets.UTF_8));
            int exitCode = BasaltCommand.commandLine(args).execute(args);
            return new Run(exitCode, stdout.toString(StandardCharsets.UTF_8), stderr.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
    }

    @Test
    void revokeListsTheCertificateAsRevokedAndPublishesTheListToEveryHolder() throws Exception {
        String tls = dir.resolve("tls").toString();
        assertThat(run("cert", "init", "--dir", tls, "--name", "test").exitCode()).isZero();
        for (String[] holder : new String[][] {{"cs", "cs1"}, {"gateway", "nbd2"}, {"admin", "ops"}}) {
            Run issued = run("cert", "issue", "--dir", tls, "--role", holder[0], "--name", holder[1]);
            assertThat(issued.exitCode()).as(issued.err()).isZero();
        }
        String nbd2Serial = io.basalt.common.tls.Pem.readCertificates(dir.resolve("tls/nbd2/cert.pem")).getFirst()
                .getSerialNumber().toString(16);

        Run revoked = run("cert", "revoke", "--dir", tls, "--name", "nbd2", "--serial", "0a:bc");
        assertThat(revoked.exitCode()).as(revoked.err()).isZero();
        assertThat(revoked.out()).contains("revoked serial 0a:bc, nbd2 (serial " + nbd2Serial + ")")
                .contains("2 certificate(s) revoked in all").contains("in 3 holder directories");
        for (String holder : new String[] {"cs1", "nbd2", "ops"}) {
            assertThat(TlsIdentity.load(dir.resolve("tls").resolve(holder)).trust().revokedSerials())
                    .containsExactlyInAnyOrder(new java.math.BigInteger(nbd2Serial, 16), java.math.BigInteger.valueOf(0xabc));
        }
        Run list = run("cert", "list", "--dir", tls);
        assertThat(list.out().lines().filter(line -> line.startsWith("nbd2"))).singleElement().asString()
                .contains(nbd2Serial).contains("REVOKED");
        assertThat(list.out().lines().filter(line -> line.startsWith("cs1"))).singleElement().asString()
                .contains(" ok ");

        // Reissued under the same name: a new serial, not revoked.
        assertThat(run("cert", "issue", "--dir", tls, "--role", "gateway", "--name", "nbd2").exitCode()).isZero();
        assertThat(run("cert", "list", "--dir", tls).out().lines().filter(line -> line.startsWith("nbd2")))
                .singleElement().asString().doesNotContain("REVOKED");
        assertThat(Files.isRegularFile(dir.resolve("tls/nbd2").resolve(TlsIdentity.CRL_FILE))).isTrue();
    }

    @Test
    void badRevocationsAreOneLineErrorsAndChangeNothing() {
        String tls = dir.resolve("tls").toString();
        assertThat(run("cert", "init", "--dir", tls, "--name", "test").exitCode()).isZero();
        Run none = run("cert", "revoke", "--dir", tls);
        assertThat(none.exitCode()).isNotZero();
        assertThat(none.err()).contains("name what to revoke: --name NAME or --serial HEX");
        Run bad = run("cert", "revoke", "--dir", tls, "--serial", "xyz");
        assertThat(bad.err()).contains("--serial xyz: not a hexadecimal serial number");
        Run unknown = run("cert", "revoke", "--dir", tls, "--name", "ghost");
        assertThat(unknown.err()).contains("--name ghost: no certificate in");
        assertThat(dir.resolve("tls/ca").resolve(TlsIdentity.CRL_FILE)).doesNotExist();
    }
}
