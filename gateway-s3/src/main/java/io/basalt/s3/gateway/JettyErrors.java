package io.basalt.s3.gateway;

import io.basalt.s3.S3Error;
import io.basalt.s3.xml.ResponseXml;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The answers Jetty writes itself, before a request reaches {@link S3Handler} (a malformed
 * request line, headers over the limit, a request refused while stopping): S3 XML error
 * documents with an {@code x-amz-request-id} like every other answer, instead of Jetty's HTML.
 */
final class JettyErrors extends ErrorHandler {
    private static final Logger LOG = LoggerFactory.getLogger(JettyErrors.class);

    private final AtomicLong counter = new AtomicLong();

    @Override
    protected void generateResponse(Request request, Response response, int status,
            String message, Throwable cause, Callback callback) {
        S3Error error = switch (status) {
            case 503 -> S3Error.ServiceUnavailable;
            case 408 -> S3Error.RequestTimeout;
            case 405 -> S3Error.MethodNotAllowed;
            default -> status >= 500 ? S3Error.InternalError : S3Error.InvalidRequest;
        };
        String requestId = "JETTY" + Long.toHexString(counter.incrementAndGet()).toUpperCase(
                java.util.Locale.ROOT);
        String why = message == null || message.isEmpty() ? error.defaultMessage()
                : "HTTP " + status + ": " + message;
        LOG.info("S3 HTTP {} {} failed: {} {} ({}; request {})", request.getMethod(),
                request.getHttpURI().getPath(), status, error.code(), why, requestId);
        byte[] body = ResponseXml.error(error, why, request.getHttpURI().getPath(), requestId)
                .getBytes(StandardCharsets.UTF_8);
        response.getHeaders().put("x-amz-request-id", requestId);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, Exchange.XML_CONTENT_TYPE);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
    }
}
