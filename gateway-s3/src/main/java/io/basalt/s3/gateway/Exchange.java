package io.basalt.s3.gateway;

import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.auth.Authentication;
import io.basalt.s3.route.S3Operation;
import io.basalt.s3.route.S3Request;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpField;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;

/**
 * One request and its answer: the Jetty request, response and callback, what routing and
 * authentication found, and the helpers that end it. Exactly one of the {@code send...} methods
 * (or {@link #abort}) ends an exchange; the callback is completed once, when the last byte is
 * written, and {@link #done} completes with it.
 *
 * <p>Owned by the request's virtual thread, except the response writes, whose callbacks run on
 * Jetty's threads.
 */
final class Exchange {
    static final String XML_CONTENT_TYPE = "application/xml";

    final Request request;
    final Response response;
    final String requestId;
    final long startNanos;
    final String method;
    final String rawPath;
    final String rawQuery;
    final RequestHeaders headers;

    /** Set by routing; null when the request was refused before. */
    S3Request route;
    /** Set by authentication. */
    Authentication authentication;
    /** The operation's name for metrics and logs. */
    String operationName = "UNROUTED";

    private final Callback callback;
    private final AtomicBoolean ended = new AtomicBoolean();
    /** Completes when the response is fully written (true) or abandoned (false). */
    final CompletableFuture<Boolean> done = new CompletableFuture<>();

    Exchange(Request request, Response response, Callback callback, String requestId) {
        this.request = request;
        this.response = response;
        this.callback = callback;
        this.requestId = requestId;
        this.startNanos = System.nanoTime();
        this.method = request.getMethod();
        this.rawPath = request.getHttpURI().getPath() == null ? "/"
                : request.getHttpURI().getPath();
        this.rawQuery = request.getHttpURI().getQuery();
        RequestHeaders.Builder builder = RequestHeaders.builder();
        for (HttpField field : request.getHeaders()) {
            if (field.getName() != null && field.getValue() != null) {
                builder.add(field.getName(), RequestHeaders.fromWireValue(field.getValue()));
            }
        }
        if (!request.getHeaders().contains(HttpHeader.HOST)
                && request.getHttpURI().getAuthority() != null) {
            builder.add("host", request.getHttpURI().getAuthority());
        }
        this.headers = builder.build();
    }

    QueryParameters query() {
        return route == null ? QueryParameters.empty() : route.query();
    }

    String bucket() {
        return route == null ? null : route.bucket();
    }

    String key() {
        return route == null ? null : route.key();
    }

    S3Operation operation() {
        return route == null ? null : route.operation();
    }

    /** The authenticated access key. */
    String accessKey() {
        return authentication.accessKeyId();
    }

    String header(String name) {
        return headers.first(name);
    }

    boolean isHead() {
        return method.equals("HEAD");
    }

    void setHeader(String name, String value) {
        if (value != null) {
            response.getHeaders().put(name, value);
        }
    }

    /** A response with an XML body. */
    void sendXml(int status, String xml) {
        sendBody(status, XML_CONTENT_TYPE, xml.getBytes(StandardCharsets.UTF_8));
    }

    void sendBody(int status, String contentType, byte[] body) {
        if (!begin()) {
            return;
        }
        response.setStatus(status);
        closeIfBodyUnread();
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, contentType);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        if (isHead()) {
            finish();
            return;
        }
        writeLast(ByteBuffer.wrap(body));
    }

    /** A response without a body (204, a HEAD's 200, a 304...). */
    void sendEmpty(int status) {
        if (!begin()) {
            return;
        }
        response.setStatus(status);
        closeIfBodyUnread();
        if (status != 204 && status != 304 && !response.getHeaders().contains(
                HttpHeader.CONTENT_LENGTH)) {
            response.getHeaders().put(HttpHeader.CONTENT_LENGTH, 0);
        }
        finish();
    }

    /** Ends a response whose headers and body the caller wrote (a GET's object bytes). */
    void endStreamed() {
        if (!begin()) {
            return;
        }
        writeLast(BufferUtil.EMPTY_BUFFER);
    }

    /** Abandons the exchange: the connection is dropped (a body that failed half sent). */
    void abort(Throwable cause) {
        if (!begin()) {
            return;
        }
        done.complete(false);
        callback.failed(cause);
    }

    /** Whether the exchange has been ended. */
    boolean isEnded() {
        return ended.get();
    }

    /**
     * An answer sent before the request's body was read (a refusal) ends the connection, and
     * says so: Jetty would close it anyway once it found the body unread, and a client that
     * reused it would see its next request fail.
     */
    private void closeIfBodyUnread() {
        if (!request.consumeAvailable()) {
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
        }
    }

    private boolean begin() {
        return ended.compareAndSet(false, true);
    }

    private void finish() {
        done.complete(true);
        callback.succeeded();
    }

    /** The last write; if it throws, the exchange still ends (failed). */
    private void writeLast(ByteBuffer buffer) {
        Callback completion = completion();
        try {
            response.write(true, buffer, completion);
        } catch (RuntimeException e) {
            completion.failed(e);
        }
    }

    private Callback completion() {
        return Callback.from(() -> {
            done.complete(true);
            callback.succeeded();
        }, failure -> {
            done.complete(false);
            callback.failed(failure);
        });
    }
}
