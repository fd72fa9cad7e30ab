package io.basalt.s3.gateway;

import io.basalt.client.object.ObjectStore;
import io.basalt.meta.model.s3.S3User;
import io.basalt.s3.QueryParameters;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.auth.SigV4Verifier;
import io.basalt.s3.auth.SigningKeyCache;
import io.basalt.s3.route.S3Router;
import io.basalt.s3.xml.ResponseXml;
import java.time.Clock;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every request's pipeline: admit (in-flight limit), route ({@link S3Router}), authenticate
 * ({@link SigV4Verifier} with secrets from {@code store.user}), run the operation, answer. The
 * Jetty thread only admits and hands the request to a virtual thread; whatever the operation
 * throws becomes an S3 {@code Error} document with its status, logged in one line (an
 * unexpected exception: 500 InternalError, logged with its stack; a client that went away: a
 * count and a debug line, see {@link ClientGone}). Every response carries
 * {@code x-amz-request-id}.
 */
final class S3Handler extends Handler.Abstract {
    private static final Logger LOG = LoggerFactory.getLogger(S3Handler.class);

    private final S3Gateway.Config config;
    private final S3Router router;
    private final SigV4Verifier verifier;
    private final GatewayMetrics metrics;
    private final ExecutorService requestThreads;
    private final Operations operations;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final String requestIdPrefix;
    private final AtomicLong requestCounter = new AtomicLong();

    S3Handler(S3Gateway.Config config, Set<String> baseDomains, ObjectStore store,
            GatewayMetrics metrics, ExecutorService requestThreads, Clock clock) {
        super(InvocationType.NON_BLOCKING);
        this.config = config;
        this.router = new S3Router(baseDomains);
        this.verifier = new SigV4Verifier(config.region(), accessKey -> secretOf(store,
                accessKey), new SigningKeyCache(), clock, config.clockSkewMax());
        this.metrics = metrics;
        this.requestThreads = requestThreads;
        this.operations = new Operations(config, store, metrics);
        this.requestIdPrefix = HexFormat.of().withUpperCase().toHexDigits(
                ThreadLocalRandom.current().nextInt());
    }

    private static Optional<String> secretOf(ObjectStore store, String accessKey) {
        // Runs on the request's virtual thread: waiting parks it.
        Optional<S3User> user = StoreErrors.await(store.user(accessKey));
        return user.map(S3User::secret);
    }

    @Override
    public boolean handle(Request request, Response response, Callback callback) {
        String requestId = requestIdPrefix + HexFormat.of().withUpperCase().toHexDigits(
                requestCounter.incrementAndGet());
        response.getHeaders().put("x-amz-request-id", requestId);
        response.getHeaders().put("x-amz-id-2", requestId);
        response.getHeaders().put("Server", "Basalt");
        Exchange exchange = new Exchange(request, response, callback, requestId);
        metrics.requestsInFlight.inc();
        exchange.done.whenComplete((completed, failure) -> finished(exchange));
        if (inFlight.incrementAndGet() > config.limits().requestsInFlightMax()) {
            fail(exchange, new S3Exception(S3Error.SlowDown, "more than "
                    + config.limits().requestsInFlightMax() + " requests in flight"));
            return true;
        }
        try {
            requestThreads.execute(() -> serve(exchange));
        } catch (RejectedExecutionException e) {
            fail(exchange, new S3Exception(S3Error.ServiceUnavailable,
                    "the gateway is shutting down"));
        }
        return true;
    }

    private void serve(Exchange exchange) {
        try {
            QueryParameters query = QueryParameters.parse(exchange.rawQuery);
            exchange.route = router.route(exchange.method, exchange.header("host"),
                    exchange.rawPath, query, exchange.headers);
            exchange.operationName = exchange.route.operation().name();
            exchange.authentication = verifier.verify(exchange.method, exchange.rawPath, query,
                    exchange.headers);
            operations.serve(exchange);
            if (!exchange.isEnded()) {
                throw new IllegalStateException("operation " + exchange.operationName
                        + " returned without answering");
            }
        } catch (Throwable failure) {
            fail(exchange, failure);
        }
    }

    /** Answers a failure: an S3 error document, or a dropped connection once bytes were sent. */
    private void fail(Exchange exchange, Throwable failure) {
        try {
            answerFailure(exchange, failure);
        } catch (RuntimeException | Error answerFailure) {
            // Writing the answer failed too: cut the connection so the exchange still ends.
            LOG.warn("S3 {} could not answer (request {}): {}", exchange.operationName,
                    exchange.requestId, answerFailure.toString());
            exchange.abort(answerFailure);
        }
    }

    private void answerFailure(Exchange exchange, Throwable failure) {
        Throwable cause = StoreErrors.unwrap(failure);
        if (cause instanceof io.basalt.client.object.ObjectStoreException
                && StoreErrors.rethrowable(cause) instanceof S3Exception mapped) {
            cause = mapped;
        }
        if (cause instanceof S3Exception s3) {
            S3Error error = s3.error();
            if (error != S3Error.NotModified) {
                LOG.info("S3 {} {} failed: {} {} ({}; request {})", exchange.operationName,
                        describe(exchange), error.httpStatus(), error.code(), s3.getMessage(),
                        exchange.requestId);
            }
            answer(exchange, error, s3.getMessage(), cause);
            return;
        }
        if (ClientGone.isClientGone(cause)) {
            // The client closed the connection (a GET abandoned half way, a timeout on its
            // side): nothing is wrong here and nobody is left to answer; one line at debug and
            // a count, no stack (it was logged as a 500 with its stack before).
            metrics.clientDisconnects.labelValues(exchange.operationName).inc();
            LOG.debug("S3 {} {}: client disconnected ({}; request {})", exchange.operationName,
                    describe(exchange), cause.toString(), exchange.requestId);
            exchange.abort(cause);
            return;
        }
        LOG.warn("S3 {} {} failed: 500 InternalError (request {})", exchange.operationName,
                describe(exchange), exchange.requestId, cause);
        answer(exchange, S3Error.InternalError, S3Error.InternalError.defaultMessage(), cause);
    }

    /** What the request named, for its log line: bucket and key, or method and raw path. */
    private static String describe(Exchange exchange) {
        if (exchange.route == null) {
            return exchange.method + " " + exchange.rawPath;
        }
        return "bucket=" + exchange.bucket() + " key=" + exchange.key();
    }

    private void answer(Exchange exchange, S3Error error, String message, Throwable cause) {
        if (exchange.isEnded()) {
            return;
        }
        if (exchange.response.isCommitted()) {
            exchange.abort(cause); // the headers are out: only a cut connection can tell
            return;
        }
        // The answer is about the error, not the object the operation was describing.
        var fields = exchange.response.getHeaders().listIterator();
        while (fields.hasNext()) {
            if (ObjectHeaders.isObjectHeader(fields.next().getName())) {
                fields.remove();
            }
        }
        if (error == S3Error.NotModified) {
            exchange.sendEmpty(304);
            return;
        }
        String resource = exchange.rawPath;
        exchange.sendXml(error.httpStatus(), ResponseXml.error(error, message, resource,
                exchange.requestId));
    }

    private void finished(Exchange exchange) {
        inFlight.decrementAndGet();
        metrics.requestsInFlight.dec();
        int status = exchange.response.getStatus();
        metrics.requests.labelValues(exchange.operationName, Integer.toString(status)).inc();
        metrics.latency.labelValues(exchange.operationName).observe(
                (System.nanoTime() - exchange.startNanos) / 1e9);
    }
}
