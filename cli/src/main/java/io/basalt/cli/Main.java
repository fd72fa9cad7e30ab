package io.basalt.cli;

import picocli.CommandLine;

/** Entry point of the {@code basalt} command; the {@code ./basalt} launcher runs this class. */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.exit(BasaltCommand.execute(args));
    }
}
