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
        description = "Basalt: distributed block and object storage.")
public final class BasaltCommand implements Runnable {

    /**
     * The verbs, in the order the help lists them. They are added in {@link #execute}, not in
     * the annotation: picocli builds a model of every subcommand it is given, by reflection over
     * its annotations (a third of a second for all of them here), and an admin verb needs one.
     */
    static final java.util.List<Class<?>> VERBS = java.util.List.of(UpCommand.class, StatusCommand.class,
            CertCommand.class, NbdCommand.class, S3Command.class, TestCommand.class, MetaCommand.class,
            VolumeCommand.class, CsCommand.class, DoctorCommand.class, CommandLine.HelpCommand.class);

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
        CommandLine commandLine = commandLine(args);
        commandLine.setExecutionExceptionHandler(new UserErrorHandler());
        return commandLine.execute(args);
    }

    /** The {@code basalt} command line that {@code args} needs: with only their verb when they name one. */
    public static CommandLine commandLine(String... args) {
        CommandLine commandLine = new CommandLine(new BasaltCommand());
        Class<?> verb = verbNamed(firstWord(args));
        if (verb != null && verb != CommandLine.HelpCommand.class) {
            commandLine.addSubcommand(verb);
        } else {
            // No verb, help, or a word that is none: the usage lists them all, and picocli's
            // "did you mean" needs them all.
            VERBS.forEach(commandLine::addSubcommand);
        }
        return commandLine;
    }

    /** The first argument that is not an option of {@code basalt} itself, or null. */
    private static String firstWord(String[] args) {
        for (String arg : args) {
            if (!arg.startsWith("-")) {
                return arg;
            }
        }
        return null;
    }

    private static Class<?> verbNamed(String word) {
        if (word == null) {
            return null;
        }
        for (Class<?> verb : VERBS) {
            Command command = verb.getAnnotation(Command.class);
            if (command.name().equals(word) || java.util.Arrays.asList(command.aliases()).contains(word)) {
                return verb;
            }
        }
        return null;
    }
}
