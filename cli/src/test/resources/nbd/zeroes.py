"""WRITE_ZEROES: plain, with NO_HOLE (must stay allocated), with FAST_ZERO (either done, or
ENOTSUP with the data untouched), with FUA, and at byte granularity. argv[2] (optional) is the
backing file, to see allocation."""
import nbd
from nbdit import *

MIB = 1 << 20


def body(args):
    uri = args[0]
    path = args[1] if len(args) > 1 else None
    h = connect(uri)
    check(h.can_zero(), "server does not advertise WRITE_ZEROES")
    data = random_bytes(2, 6 * MIB)
    h.pwrite(data, 0)
    h.flush()

    h.zero(1 * MIB, 0)
    check(h.pread(1 * MIB, 0) == zeros(MIB), "WRITE_ZEROES: range does not read as zeroes")
    check(h.pread(1 * MIB, 1 * MIB) == data[MIB:2 * MIB], "WRITE_ZEROES touched the next MiB")
    ext = status_map(h, 0, 1 * MIB)
    check(all((f & HOLE == 0) or (f & ZERO) for (_, _, f) in ext),
          "HOLE without ZERO after WRITE_ZEROES: %s" % describe(ext))
    print("  WRITE_ZEROES ok: %s" % describe(ext))

    h.flush()
    before = allocated_bytes(path) if path else None
    h.zero(1 * MIB, 1 * MIB, nbd.CMD_FLAG_NO_HOLE)
    h.flush()
    check(h.pread(1 * MIB, 1 * MIB) == zeros(MIB), "WRITE_ZEROES|NO_HOLE: range not zero")
    check(h.pread(1 * MIB, 2 * MIB) == data[2 * MIB:3 * MIB], "NO_HOLE zeroing touched the next MiB")
    if path:
        after = allocated_bytes(path)
        print("  NO_HOLE: file allocation %d -> %d bytes" % (before, after))
        check(after >= before,
              "WRITE_ZEROES with NO_HOLE deallocated: %d -> %d bytes" % (before, after))

    if h.can_fast_zero():
        for flags, name in ((nbd.CMD_FLAG_FAST_ZERO, "FAST_ZERO"),
                            (nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_NO_HOLE, "FAST_ZERO|NO_HOLE")):
            offset = 2 * MIB if name == "FAST_ZERO" else 3 * MIB
            try:
                h.zero(1 * MIB, offset, flags)
                check(h.pread(1 * MIB, offset) == zeros(MIB), "%s succeeded but range not zero" % name)
                print("  %s: done" % name)
            except nbd.Error as e:
                check(e.errno == "ENOTSUP", "%s: expected success or ENOTSUP, got %s" % (name, e.errno))
                check(h.pread(1 * MIB, offset) == data[offset:offset + MIB],
                      "%s failed with ENOTSUP but changed the data" % name)
                print("  %s: ENOTSUP (allowed), data untouched" % name)
    else:
        print("  server does not advertise FAST_ZERO; skipped")

    if h.can_fua():
        h.zero(64 * 1024, 4 * MIB, nbd.CMD_FLAG_FUA)
        check(h.pread(64 * 1024, 4 * MIB) == zeros(64 * 1024), "WRITE_ZEROES|FUA: not zero")
        print("  WRITE_ZEROES|FUA ok")

    # Byte granularity: 100 bytes at an odd offset, neighbours intact.
    offset = 5 * MIB + 7
    h.zero(100, offset)
    got = h.pread(4096, 5 * MIB)
    expected = bytearray(data[5 * MIB:5 * MIB + 4096])
    expected[7:107] = zeros(100)
    check(got == bytes(expected), "unaligned WRITE_ZEROES of 100 bytes at %d wrong" % offset)
    h.zero(100, offset, nbd.CMD_FLAG_NO_HOLE)
    check(h.pread(4096, 5 * MIB) == bytes(expected), "unaligned NO_HOLE zeroing wrong")
    print("  unaligned WRITE_ZEROES ok")

    # Zeroing a hole, and the very end of the export.
    size = h.get_size()
    h.zero(8192, size - 8192)
    check(h.pread(8192, size - 8192) == zeros(8192), "zeroing the end of the export failed")
    h.shutdown()


main(body)
