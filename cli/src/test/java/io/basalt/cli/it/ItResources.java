package io.basalt.cli.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.opentest4j.TestAbortedException;

/**
 * Owns every server process and temp dir an integration test creates, and removes them whatever
 * happens: servers are stopped (SIGTERM, then SIGKILL after a timeout) and temp dirs deleted in
 * {@code afterEach} for what a test created, in {@code afterAll} for what {@code @BeforeAll}
 * created (register the field {@code static} for that). When a test fails, the output of every
 * server still running is printed first, so the failure report shows what the server said.
 *
 * <pre>{@code
 * @RegisterExtension static final ItResources resources = new ItResources();
 * BasaltProcess server = resources.start(Options.file(resources.tempDir().resolve("disk.img"), "64M"));
 * }</pre>
 */
final class ItResources implements BeforeEachCallback, AfterEachCallback, AfterAllCallback {
    /** Lines of server output printed per server on failure; the file holds everything. */
    private static final int LOG_LINES_PRINTED_MAX = 400;

    private final List<Object> classScope = new ArrayList<>();
    private final List<Object> testScope = new ArrayList<>();
    private volatile boolean inTest;
    /** Whether a test of this class failed: with -Dbasalt.it.keepFailed its temp dirs are kept. */
    private volatile boolean failed;

    /** A fresh temp dir, deleted with its contents when the current scope ends. */
    Path tempDir() {
        try {
            Path dir = Files.createTempDirectory("basalt-it-");
            scope().add(dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Starts a server (output in a temp dir of its own); stopped when the current scope ends. */
    BasaltProcess start(BasaltProcess.Options options) {
        Path logDir = tempDir();
        try {
            BasaltProcess server = BasaltProcess.start(options, logDir);
            scope().add(server);
            return server;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the NBD server", e);
        }
    }

    /** Registers something else to close at the end of the current scope (e.g. a socket). */
    <T extends AutoCloseable> T register(T closeable) {
        scope().add(closeable);
        return closeable;
    }

    private synchronized List<Object> scope() {
        return inTest ? testScope : classScope;
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        inTest = true;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        inTest = false;
        Optional<Throwable> failure = context.getExecutionException();
        if (failure.isPresent() && !(failure.get() instanceof TestAbortedException)) {
            failed = true;
            printServerLogs(context.getDisplayName());
        }
        closeAll(testScope, failed);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        Optional<Throwable> failure = context.getExecutionException();
        if (failure.isPresent() && !(failure.get() instanceof TestAbortedException)) {
            failed = true;
            printServerLogs(context.getDisplayName());
        }
        closeAll(classScope, failed);
    }

    private void printServerLogs(String testName) {
        List<Object> all = new ArrayList<>(classScope);
        all.addAll(testScope);
        for (Object resource : all) {
            if (resource instanceof BasaltProcess server) {
                List<String> lines = server.log().lines().toList();
                int from = Math.max(0, lines.size() - LOG_LINES_PRINTED_MAX);
                System.out.println("==== " + testName + " failed; output of NBD server pid "
                        + server.pid() + " port " + server.port() + " (" + server.logFile() + ", last "
                        + (lines.size() - from) + " of " + lines.size() + " lines) ====");
                lines.subList(from, lines.size()).forEach(System.out::println);
                System.out.println("==== end of server output ====");
            }
        }
    }

    /**
     * Closes in reverse order of creation: servers stop before their files are deleted. After a
     * failure, with {@code -Dbasalt.it.keepFailed} (a debugging aid, never in CI), temp dirs are kept
     * and named instead (chunk servers' whole logs are there, DATADIR.log).
     */
    private static void closeAll(List<Object> resources, boolean failed) {
        boolean keep = failed && Boolean.getBoolean("basalt.it.keepFailed");
        Deque<Object> stack = new ArrayDeque<>(resources);
        resources.clear();
        RuntimeException failure = null;
        while (!stack.isEmpty()) {
            Object resource = stack.removeLast();
            try {
                if (resource instanceof Path dir && keep) {
                    System.out.println("kept after the failure: " + dir);
                } else if (resource instanceof Path dir) {
                    deleteRecursively(dir);
                } else if (resource instanceof AutoCloseable closeable) {
                    closeable.close();
                }
            } catch (Exception e) {
                if (failure == null) {
                    failure = new IllegalStateException("cleanup failed for " + resource, e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    static void deleteRecursively(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        Files.walkFileTree(dir, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                Files.deleteIfExists(file);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path directory, IOException e) throws IOException {
                Files.deleteIfExists(directory);
                return FileVisitResult.CONTINUE;
            }
        });
    }
}
