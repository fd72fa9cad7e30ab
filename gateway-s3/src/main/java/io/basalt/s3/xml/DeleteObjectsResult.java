package io.basalt.s3.xml;

import io.basalt.s3.S3Error;

/** Outcomes of one key of a DeleteObjects request. */
public final class DeleteObjectsResult {
    private DeleteObjectsResult() {}

    /**
     * A key deleted ({@code <Deleted>}).
     *
     * @param versionId the version deleted, or null
     * @param deleteMarkerVersionId the delete marker created or deleted, or null when none
     */
    public record Deleted(String key, String versionId, boolean deleteMarker,
            String deleteMarkerVersionId) {}

    /** A key not deleted ({@code <Error>}). */
    public record Failed(String key, String versionId, S3Error error, String message) {}
}
