package io.basalt.s3;

/**
 * The S3 error codes the gateway answers with: code, HTTP status and default message, as the
 * S3 API reference ("Error responses", list of error codes) gives them. The code is the enum
 * constant's name, spelled as S3 spells it, so {@link #code()} is {@link #name()}.
 *
 * <p>{@link #NotModified} is not an error document in S3 (a 304 has no body); it is here so that
 * precondition evaluation and error mapping use one type.
 */
public enum S3Error {
    AccessDenied(403, "Access Denied"),
    AuthorizationHeaderMalformed(400, "The authorization header you provided is not valid."),
    AuthorizationQueryParametersError(400,
            "Error parsing the X-Amz-Credential parameter or the query parameters for a presigned"
                    + " request."),
    BadDigest(400, "The Content-MD5 or checksum value that you specified did not match what the"
            + " server received."),
    BucketAlreadyExists(409, "The requested bucket name is not available. The bucket namespace is"
            + " shared by all users of the system. Select a different name and try again."),
    BucketAlreadyOwnedByYou(409,
            "The bucket that you tried to create already exists, and you own it."),
    BucketNotEmpty(409, "The bucket that you tried to delete is not empty."),
    EntityTooLarge(400, "Your proposed upload exceeds the maximum allowed object size."),
    EntityTooSmall(400, "Your proposed upload is smaller than the minimum allowed object size."),
    ExpiredToken(400, "The provided token has expired."),
    IllegalLocationConstraintException(400,
            "The specified location constraint is not valid for this endpoint."),
    IncompleteBody(400, "You did not provide the number of bytes specified by the Content-Length"
            + " HTTP header."),
    InternalError(500, "An internal error occurred. Try again."),
    InvalidAccessKeyId(403, "The AWS access key ID that you provided does not exist in our"
            + " records."),
    InvalidArgument(400, "Invalid Argument"),
    InvalidBucketName(400, "The specified bucket is not valid."),
    InvalidBucketState(409, "The request is not valid for the current state of the bucket."),
    InvalidDigest(400, "The Content-MD5 or checksum value that you specified is not valid."),
    InvalidPart(400, "One or more of the specified parts could not be found. The part might not"
            + " have been uploaded, or the specified ETag might not have matched the part's"
            + " ETag."),
    InvalidPartNumber(416, "The requested partnumber is not satisfiable."),
    InvalidPartOrder(400, "The list of parts was not in ascending order. The parts list must be"
            + " specified in order by part number."),
    InvalidRange(416, "The requested range cannot be satisfied."),
    InvalidRequest(400, "Invalid Request"),
    InvalidStorageClass(400, "The storage class that you specified is not valid."),
    InvalidTag(400, "The tag provided was not a valid tag."),
    InvalidURI(400, "The specified URI couldn't be parsed."),
    KeyTooLongError(400, "Your key is too long."),
    MalformedXML(400, "The XML that you provided was not well formed or did not validate against"
            + " the published schema."),
    MalformedTrailerError(400, "The request contained trailing data that was not well-formed"
            + " or did not conform to our published schema."),
    MaxMessageLengthExceeded(400, "Your request was too large."),
    MetadataTooLarge(400, "Your metadata headers exceed the maximum allowed metadata size."),
    MethodNotAllowed(405, "The specified method is not allowed against this resource."),
    MissingContentLength(411, "You must provide the Content-Length HTTP header."),
    MissingRequestBodyError(400, "Request Body is empty."),
    MissingSecurityHeader(400, "Your request is missing a required header."),
    NoSuchBucket(404, "The specified bucket does not exist."),
    NoSuchKey(404, "The specified key does not exist."),
    NoSuchTagSet(404, "The specified tag does not exist."),
    NoSuchUpload(404, "The specified multipart upload does not exist. The upload ID might not be"
            + " valid, or the multipart upload might have been aborted or completed."),
    NoSuchVersion(404, "The version ID specified in the request does not match an existing"
            + " version."),
    NotImplemented(501, "A header that you provided implies functionality that is not"
            + " implemented."),
    NotModified(304, "Not Modified"),
    PreconditionFailed(412, "At least one of the preconditions that you specified did not hold."),
    RequestTimeTooSkewed(403, "The difference between the request time and the server's time is"
            + " too large."),
    RequestTimeout(400, "Your socket connection to the server was not read from or written to"
            + " within the timeout period."),
    ServiceUnavailable(503, "Service is unable to handle request."),
    SignatureDoesNotMatch(403, "The request signature that the server calculated does not match"
            + " the signature that you provided. Check your AWS secret access key and signing"
            + " method."),
    SlowDown(503, "Please reduce your request rate."),
    TooManyBuckets(400, "You have attempted to create more buckets than are allowed."),
    XAmzContentSHA256Mismatch(400,
            "The provided 'x-amz-content-sha256' header does not match what was computed.");

    private final int httpStatus;
    private final String defaultMessage;

    S3Error(int httpStatus, String defaultMessage) {
        this.httpStatus = httpStatus;
        this.defaultMessage = defaultMessage;
    }

    /** The {@code <Code>} of the error document. */
    public String code() {
        return name();
    }

    public int httpStatus() {
        return httpStatus;
    }

    public String defaultMessage() {
        return defaultMessage;
    }
}
