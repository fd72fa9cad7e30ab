package io.basalt.s3.xml;

/** A key, and optionally a version, named in DeleteObjects. */
public record ObjectIdentifier(String key, String versionId) {}
