package io.basalt.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code basalt nbd ...}: NBD servers. */
@Command(name = "nbd", mixinStandardHelpOptions = true,
        description = "Serve block devices over the NBD protocol.",
        subcommands = {NbdServeCommand.class, NbdRunCommand.class, NbdPskCommand.class})
final class NbdCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
