package io.basalt.s3.xml;

/** An object or bucket tag. */
public record Tag(String key, String value) {}
