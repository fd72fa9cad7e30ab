"""Requests the server must refuse, each with its errno, on one connection that stays usable:
past the end (EINVAL for READ/BLOCK_STATUS/CACHE, ENOSPC for WRITE/TRIM/WRITE_ZEROES), zero
lengths (EINVAL), unknown flags (EINVAL), offset+length overflowing 64 bits (EINVAL/ENOSPC).

errors.py URI [--basalt]: Basalt's contract says ENOSPC for TRIM/WRITE_ZEROES past the end; other
servers (nbdkit) answer EINVAL there, which the spec allows, so without --basalt both pass."""
import nbd
from nbdit import *


def noop(*args):
    return 0


def body(args):
    h = connect(args[0], strict=False)
    basalt = "--basalt" in args
    trim_zero_past_end = ("ENOSPC",) if basalt else ("ENOSPC", "EINVAL")
    # A zero-length write-type request: Basalt says EINVAL; nbdkit ENOSPC (its range check).
    zero_length_write = ("EINVAL",) if basalt else ("EINVAL", "ENOSPC")
    size = h.get_size()
    marker = random_bytes(4, 4096)
    h.pwrite(marker, 0)
    block = bytes(4096)

    for offset, where in ((size, "at the end"), (size - 2048, "across the end"),
                          (size + (1 << 30), "1 GiB past the end")):
        expect_errno("EINVAL", "READ " + where, h.pread, 4096, offset)
        expect_errno("ENOSPC", "WRITE " + where, h.pwrite, block, offset)
        expect_errno(trim_zero_past_end, "TRIM " + where, h.trim, 4096, offset)
        expect_errno(trim_zero_past_end, "WRITE_ZEROES " + where, h.zero, 4096, offset)
        expect_errno("EINVAL", "BLOCK_STATUS " + where, h.block_status, 4096, offset, noop)
        expect_errno("EINVAL", "CACHE " + where, h.cache, 4096, offset)
    check(h.pread(2048, size - 4096) == bytes(2048), "refused write across the end wrote data")

    overflow = (1 << 64) - 2048
    expect_errno("EINVAL", "READ with offset+length past 2^64", h.pread, 4096, overflow)
    expect_errno("ENOSPC", "WRITE with offset+length past 2^64", h.pwrite, block, overflow)

    expect_errno("EINVAL", "zero-length READ", h.pread, 0, 0)
    expect_errno(zero_length_write, "zero-length WRITE", h.pwrite, b"", 0)
    expect_errno(zero_length_write, "zero-length TRIM", h.trim, 0, 0)
    expect_errno(zero_length_write, "zero-length WRITE_ZEROES", h.zero, 0, 0)
    expect_errno("EINVAL", "zero-length BLOCK_STATUS", h.block_status, 0, 0, noop)
    expect_errno("EINVAL", "zero-length CACHE", h.cache, 0, 0)

    expect_errno("EINVAL", "READ with unknown flag 0x40", h.pread, 4096, 0, 0x40)
    expect_errno("EINVAL", "WRITE with unknown flag 0x8000", h.pwrite, block, 4096, 0x8000)
    check(h.pread(4096, 4096) == bytes(4096), "refused WRITE with an unknown flag wrote data")

    # The connection is still fine after all of that.
    check(h.pread(4096, 0) == marker, "data changed or connection broken after refused requests")
    h.pwrite(marker, 8192)
    check(h.pread(4096, 8192) == marker, "write after refused requests failed")
    h.flush()
    h.shutdown()


main(body)
