package io.basalt.s3.route;

/** The S3 operations the gateway serves, as the router classifies requests. */
public enum S3Operation {
    LIST_BUCKETS(Level.SERVICE),
    CREATE_BUCKET(Level.BUCKET),
    HEAD_BUCKET(Level.BUCKET),
    DELETE_BUCKET(Level.BUCKET),
    GET_BUCKET_LOCATION(Level.BUCKET),
    GET_BUCKET_VERSIONING(Level.BUCKET),
    PUT_BUCKET_VERSIONING(Level.BUCKET),
    LIST_OBJECTS(Level.BUCKET),
    LIST_OBJECTS_V2(Level.BUCKET),
    LIST_OBJECT_VERSIONS(Level.BUCKET),
    LIST_MULTIPART_UPLOADS(Level.BUCKET),
    DELETE_OBJECTS(Level.BUCKET),
    PUT_OBJECT(Level.OBJECT),
    COPY_OBJECT(Level.OBJECT),
    GET_OBJECT(Level.OBJECT),
    HEAD_OBJECT(Level.OBJECT),
    DELETE_OBJECT(Level.OBJECT),
    GET_OBJECT_TAGGING(Level.OBJECT),
    PUT_OBJECT_TAGGING(Level.OBJECT),
    DELETE_OBJECT_TAGGING(Level.OBJECT),
    CREATE_MULTIPART_UPLOAD(Level.OBJECT),
    UPLOAD_PART(Level.OBJECT),
    UPLOAD_PART_COPY(Level.OBJECT),
    COMPLETE_MULTIPART_UPLOAD(Level.OBJECT),
    ABORT_MULTIPART_UPLOAD(Level.OBJECT),
    LIST_PARTS(Level.OBJECT);

    /** What a request addresses: the service, a bucket, or an object in a bucket. */
    public enum Level { SERVICE, BUCKET, OBJECT }

    private final Level level;

    S3Operation(Level level) {
        this.level = level;
    }

    public Level level() {
        return level;
    }
}
