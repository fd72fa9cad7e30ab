"""TRIM punches a hole: BLOCK_STATUS then reports HOLE|ZERO, reads return zeroes, neighbours keep
their data, and the backing file (argv[2], optional) gives the space back."""
import nbd
from nbdit import *

MIB = 1 << 20


def body(args):
    uri = args[0]
    path = args[1] if len(args) > 1 else None
    h = connect(uri)
    check(h.can_trim(), "server does not advertise TRIM")
    data = random_bytes(1, 4 * MIB)
    h.pwrite(data, 1 * MIB)
    h.flush()
    ext = status_map(h, 1 * MIB, 4 * MIB)
    check(all(f & HOLE == 0 for (_, _, f) in ext),
          "written range reported as a hole: %s" % describe(ext))
    before = allocated_bytes(path) if path else None

    h.trim(2 * MIB, 2 * MIB)
    h.flush()
    print("  trimmed 2 MiB at 2 MiB")

    check(h.pread(2 * MIB, 2 * MIB) == zeros(2 * MIB), "trimmed range does not read as zeroes")
    check(h.pread(1 * MIB, 1 * MIB) == data[:MIB], "data before the trimmed range changed")
    check(h.pread(1 * MIB, 4 * MIB) == data[3 * MIB:], "data after the trimmed range changed")
    ext = status_map(h, 2 * MIB, 2 * MIB)
    check(all(f == HOLE | ZERO for (_, _, f) in ext),
          "trimmed range not reported as HOLE|ZERO: %s" % describe(ext))
    ext = status_map(h, 1 * MIB, 1 * MIB)
    check(all(f & HOLE == 0 for (_, _, f) in ext),
          "untouched data before the trim reported as a hole: %s" % describe(ext))
    if path:
        after = allocated_bytes(path)
        print("  file allocation %d -> %d bytes" % (before, after))
        check(before - after >= 2 * MIB,
              "TRIM did not punch a hole: file allocation %d -> %d bytes" % (before, after))

    # FUA on TRIM is allowed when the server advertises FUA.
    if h.can_fua():
        h.trim(64 * 1024, 1 * MIB, nbd.CMD_FLAG_FUA)
        check(h.pread(64 * 1024, 1 * MIB) == zeros(64 * 1024), "TRIM with FUA did not zero")
        print("  TRIM with FUA ok")

    # An unaligned TRIM may drop less than asked (the spec allows that) but never more: the bytes
    # around it, in the same 4 KiB blocks, keep their data.
    data = random_bytes(9, 16384)
    h.pwrite(data, 8 * MIB)
    h.flush()
    h.trim(100, 8 * MIB + 4000)
    h.trim(8192 + 10, 8 * MIB + 10000)
    h.flush()
    got = h.pread(16384, 8 * MIB)
    check(got[:4000] == data[:4000], "unaligned TRIM changed bytes before its range")
    check(got[4100:10000] == data[4100:10000], "unaligned TRIM changed bytes between two trims")
    check(got[10000 + 8202:] == data[10000 + 8202:], "unaligned TRIM changed bytes after its range")
    print("  unaligned TRIMs left their neighbours intact")

    # Trimming a hole again and the last block of the export are fine.
    h.trim(2 * MIB, 2 * MIB)
    size = h.get_size()
    h.trim(4096, size - 4096)
    check(h.pread(4096, size - 4096) == zeros(4096), "last block not zero after TRIM")
    h.shutdown()


main(body)
