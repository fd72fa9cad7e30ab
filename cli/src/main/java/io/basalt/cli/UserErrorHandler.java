package io.basalt.cli;

import picocli.CommandLine;

/**
 * Turns an exception from a verb into one line on stderr and exit code 1. {@link UserError}s are
 * expected (bad input, missing file) and print only their message; anything else is a bug or an
 * operating failure and prints its class too. {@code --verbose} adds the stack trace.
 */
final class UserErrorHandler implements CommandLine.IExecutionExceptionHandler {
    @Override
    public int handleExecutionException(
            Exception exception, CommandLine commandLine, CommandLine.ParseResult parseResult) {
        boolean verbose = parseResult.hasMatchedOption("--verbose")
                || commandLine.getParseResult().originalArgs().contains("--verbose");
        String message = exception instanceof UserError || exception instanceof IllegalArgumentException
                ? exception.getMessage()
                : exception.getClass().getSimpleName() + ": " + exception.getMessage();
        System.err.println("basalt: " + message);
        if (verbose) {
            exception.printStackTrace(System.err);
        }
        return 1;
    }
}
