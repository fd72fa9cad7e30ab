package io.basalt.cli;

import picocli.CommandLine.Command;

/**
 * {@code basalt test}: the ./basalt launcher runs the test suite itself (it must pick the JDK and
 * Maven before any Java runs); this class only documents the verb in {@code --help}.
 */
@Command(name = "test", description = "Run the whole test suite (unit, property, integration) with ./mvnw verify.")
final class TestCommand implements Runnable {
    @Override
    public void run() {
        throw new UserError("run the tests from the repository root with: ./basalt test");
    }
}
