"""A read-only export refuses every write with EPERM and still serves reads."""
import nbd
from nbdit import *


def body(args):
    h = connect(args[0], strict=False)
    check(h.is_read_only(), "export not advertised read-only")
    before = h.pread(4096, 0)
    expect_errno("EPERM", "WRITE on read-only export", h.pwrite, b"\xab" * 4096, 0)
    expect_errno("EPERM", "TRIM on read-only export", h.trim, 4096, 0)
    expect_errno("EPERM", "WRITE_ZEROES on read-only export", h.zero, 4096, 0)
    expect_errno("EPERM", "WRITE|FUA on read-only export", h.pwrite, b"\xab" * 4096, 0,
                 nbd.CMD_FLAG_FUA)
    check(h.pread(4096, 0) == before, "read-only export changed")
    if len(args) > 1:
        check(before == bytes.fromhex(args[1]) * (4096 // len(bytes.fromhex(args[1]))),
              "read-only export does not serve the file's content")
    h.shutdown()


main(body)
