"""persist.py URI write|verify: writes a seeded pattern over scattered ranges and FLUSHes (write),
or checks that exactly that pattern is there (verify), e.g. after the server was killed."""
import nbd
from nbdit import *

MIB = 1 << 20
RANGES = [(0, 4096), (1 * MIB + 512, 65536), (7 * MIB, 1 * MIB), (13 * MIB - 4096, 8192)]


def body(args):
    uri, mode = args[0], args[1]
    h = connect(uri)
    for i, (offset, length) in enumerate(RANGES):
        data = random_bytes(1000 + i, length)
        if mode == "write":
            h.pwrite(data, offset)
        else:
            check(h.pread(length, offset) == data, "data at %d+%d lost or changed" % (offset, length))
    if mode == "write":
        h.flush()
    else:
        check(h.pread(4096, 4 * MIB) == bytes(4096), "unwritten range not zero")
    print("  %s: %d ranges" % (mode, len(RANGES)))
    h.shutdown()


main(body)
