package io.basalt.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The top-level {@code basalt} command. Every verb is a subcommand with its own {@code --help}.
 * User errors print one line naming the fix and exit non-zero; stack traces only with
 * {@code --verbose}.
 */
@Command(
        name = "basalt",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Basalt: distributed block and object storage.",
        subcommands = {UpCommand.class, StatusCommand.class, CertCommand.class, NbdCommand.class, S3Command.class, TestCommand.class, MetaCommand.class, VolumeCommand.class, CsCommand.class, DoctorCommand.class, CommandLine.HelpCommand.class})
public final class BasaltCommand implements Runnable {

    @Option(names = "--verbose", description = "Print stack traces with errors.", scope = CommandLine.ScopeType.INHERIT)
    boolean verbose;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Runs the command line and returns the process exit code. */
    static int execute(String[] args) {
        CommandLine commandLine = new CommandLine(new BasaltCommand());
        commandLine.setExecutionExceptionHandler(new UserErrorHandler());
        return commandLine.execute(args);
    }
}
