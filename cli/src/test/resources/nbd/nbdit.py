"""Helpers shared by the libnbd scripts the integration tests run (python3-libnbd).

Every script takes the NBD URI as its first argument, prints what it checks, exits 0 and prints
"ok" at the end when everything held, and exits 1 with a one-line reason otherwise.
"""
import os
import random
import sys

import nbd

HOLE = nbd.STATE_HOLE
ZERO = nbd.STATE_ZERO


class CheckFailed(Exception):
    pass


def connect(uri, strict=True, meta=True):
    """A connected handle. strict=False lets libnbd send what it would refuse itself (requests
    past the end, zero lengths, unknown flags, writes to a read-only export) so that the server
    has to answer them."""
    h = nbd.NBD()
    if meta:
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    if not strict:
        h.set_strict_mode(0)
    h.connect_uri(uri)
    return h


def check(condition, message):
    if not condition:
        raise CheckFailed(message)


def expect_errno(names, what, fn, *args):
    """Calls fn(*args) and checks that the server answered with errno `names` (e.g. "EINVAL"),
    or one of them when `names` is a tuple."""
    if isinstance(names, str):
        names = (names,)
    try:
        fn(*args)
    except nbd.Error as e:
        check(e.errno in names, "%s: expected %s, got %s (%s)" % (what, "/".join(names), e.errno,
                                                                  e.string))
        print("  %s -> %s" % (what, e.errno))
        return
    raise CheckFailed("%s: expected %s, but the request succeeded" % (what, "/".join(names)))


def extents(h, offset, count, flags=0):
    """base:allocation extents from one BLOCK_STATUS request, as (offset, length, flags)."""
    found = []

    def callback(metacontext, start, entries, err):
        if metacontext != nbd.CONTEXT_BASE_ALLOCATION:
            return 0
        position = start
        for i in range(0, len(entries), 2):
            found.append((position, entries[i], entries[i + 1]))
            position += entries[i]
        return 0

    h.block_status(count, offset, callback, flags)
    check(found, "BLOCK_STATUS at %d+%d returned no base:allocation extents" % (offset, count))
    check(found[0][0] == offset, "first extent starts at %d, asked for %d" % (found[0][0], offset))
    return found


def status_map(h, offset, count):
    """Extents covering [offset, offset+count), following up when the server returns less."""
    result = []
    position = offset
    end = offset + count
    for _ in range(100000):
        if position >= end:
            return result
        chunk = extents(h, position, end - position)
        for (start, length, flags) in chunk:
            check(length > 0, "zero-length extent at %d" % start)
            result.append((start, length, flags))
        position = chunk[-1][0] + chunk[-1][1]
    raise CheckFailed("BLOCK_STATUS did not cover %d+%d in 100000 requests" % (offset, count))


def flags_over(h, offset, count):
    """The set of base:allocation flag values seen over [offset, offset+count)."""
    return {flags for (_, _, flags) in status_map(h, offset, count)}


def describe(ext):
    return ", ".join("%d+%d:%d" % e for e in ext)


def zeros(n):
    return bytes(n)


def random_bytes(seed, n):
    return random.Random(seed).randbytes(n)


def allocated_bytes(path):
    """Bytes the file occupies on disk (st_blocks), to see holes being punched."""
    return os.stat(path).st_blocks * 512


def main(body):
    """Runs body(argv) and turns a failed check or libnbd error into exit code 1."""
    try:
        body(sys.argv[1:])
    except CheckFailed as e:
        print("FAILED: %s" % e)
        sys.exit(1)
    except nbd.Error as e:
        print("FAILED: unexpected libnbd error: %s (errno %s)" % (e.string, e.errno))
        sys.exit(1)
    print("ok")
