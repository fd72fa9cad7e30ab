"""A known amount of I/O for the metrics test: 10 WRITEs and 5 READs of 4 KiB, 1 FLUSH, and one
READ past the end (EINVAL) on one connection."""
import nbd
from nbdit import *


def body(args):
    h = connect(args[0], strict=False)
    for i in range(10):
        h.pwrite(bytes([i + 1]) * 4096, i * 4096)
    for i in range(5):
        check(h.pread(4096, i * 4096) == bytes([i + 1]) * 4096, "read back %d" % i)
    h.flush()
    expect_errno("EINVAL", "READ past the end", h.pread, 4096, h.get_size())
    h.shutdown()


main(body)
