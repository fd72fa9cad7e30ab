package io.basalt.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * Logging for every basalt process, set up in code: one line per event on stderr (time, level,
 * thread, logger, message), {@code io.netty} at WARN, the root at {@code $BASALT_LOG_LEVEL}
 * (default INFO).
 *
 * <p>Why code and not {@code logback.xml}: logback's XML configurator parses with the JDK's XML
 * stack and its own model/action framework: about 500 classes and 0.3 s of CPU (16% of
 * {@code basalt --version}) measured on this project's loaded two-core machine. Every admin verb
 * paid it (picocli builds every subcommand, and the daemon commands' loggers start logback), and
 * so did each of the ten JVMs of {@code basalt up}. Found by logback through {@code META-INF/services}. A
 * {@code -Dlogback.configurationFile=...} still wins: this configurator then steps aside.
 */
public final class LogConfigurator extends ContextAwareBase implements Configurator {
    static final String PATTERN = "%d{HH:mm:ss.SSS} %-5level [%thread] %logger{0}: %msg%n";
    static final String LEVEL_ENV = "BASALT_LOG_LEVEL";

    @Override
    public ExecutionStatus configure(LoggerContext context) {
        if (System.getProperty("logback.configurationFile") != null) {
            return ExecutionStatus.INVOKE_NEXT_IF_ANY;
        }
        PatternLayoutEncoder encoder = new PatternLayoutEncoder();
        encoder.setContext(context);
        encoder.setPattern(PATTERN);
        encoder.start();
        ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
        appender.setContext(context);
        appender.setName("STDERR");
        appender.setTarget("System.err");
        appender.setEncoder(encoder);
        appender.start();
        context.getLogger("io.netty").setLevel(Level.WARN);
        Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
        String level = System.getenv(LEVEL_ENV);
        // An unknown level name falls back to INFO rather than failing the start.
        root.setLevel(Level.toLevel(level == null ? "INFO" : level, Level.INFO));
        root.addAppender(appender);
        return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
    }
}
