package io.basalt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class DoctorCommandTest {
    @Test
    void reportsCodecVectorsAndCrc() {
        StringWriter output = new StringWriter();
        CommandLine commandLine = BasaltCommand.commandLine("doctor");
        commandLine.setOut(new PrintWriter(output));
        int exitCode = commandLine.execute("doctor");
        assertThat(exitCode).isZero();
        assertThat(output.toString())
                .containsPattern("erasure codec: +(ISA-L native|pure Java Vector API)")
                .containsPattern("vector species: +CPU preferred ByteVector \\d+ bits")
                .contains("CRC32C:         java.util.zip.CRC32C (");
    }
}
