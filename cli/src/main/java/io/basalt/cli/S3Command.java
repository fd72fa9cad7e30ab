package io.basalt.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code basalt s3 ...}: the S3 gateway and its users. */
@Command(name = "s3", mixinStandardHelpOptions = true,
        description = "Serve objects over the S3 API; manage S3 users (access keys).",
        subcommands = {S3RunCommand.class, S3UserCommand.class})
final class S3Command implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
