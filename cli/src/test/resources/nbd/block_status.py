"""BLOCK_STATUS (base:allocation) on a sparse export: all HOLE|ZERO when fresh, written blocks
become data, REQ_ONE gives one extent within the count, unaligned requests start where asked."""
import nbd
from nbdit import *

MIB = 1 << 20


def body(args):
    h = connect(args[0])
    check(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), "base:allocation not negotiated")
    size = h.get_size()

    ext = status_map(h, 0, size)
    check(all(f == HOLE | ZERO for (_, _, f) in ext),
          "fresh sparse export not all HOLE|ZERO: %s" % describe(ext[:20]))
    check(sum(l for (_, l, _) in ext) >= size, "extents do not cover the export")
    print("  fresh export: %d extent(s), all HOLE|ZERO" % len(ext))

    h.pwrite(random_bytes(3, 8192), 1 * MIB)
    h.flush()
    ext = status_map(h, 0, 2 * MIB)
    print("  after an 8 KiB write at 1 MiB: %s" % describe(ext))
    for (start, length, flags) in ext:
        overlaps_data = start < 1 * MIB + 8192 and start + length > 1 * MIB
        if overlaps_data:
            check(flags & HOLE == 0, "extent %d+%d over written data says HOLE" % (start, length))
            check(flags & ZERO == 0, "extent %d+%d over random data says ZERO" % (start, length))
    before = [e for e in ext if e[0] + e[1] <= 1 * MIB]
    check(before and all(f == HOLE | ZERO for (_, _, f) in before),
          "the hole before the write is not HOLE|ZERO: %s" % describe(ext))
    after = [e for e in ext if e[0] >= 1 * MIB + 8192 + 4096]
    check(all(f == HOLE | ZERO for (_, _, f) in after),
          "the hole after the write is not HOLE|ZERO: %s" % describe(ext))

    one = extents(h, 0, 64 * 1024, nbd.CMD_FLAG_REQ_ONE)
    check(len(one) == 1, "REQ_ONE returned %d extents" % len(one))
    check(one[0][1] <= 64 * 1024, "REQ_ONE extent %d longer than the count" % one[0][1])
    print("  REQ_ONE ok: %s" % describe(one))

    # More extents than one reply carries: every other 4 KiB block written.
    base, blocks = 16 * MIB, 3000
    for i in range(0, blocks, 2):
        h.pwrite(b"\x01" * 4096, base + i * 4096)
    h.flush()
    ext = status_map(h, base, blocks * 4096)
    for (start, length, flags) in ext:
        for b in range((start - base) // 4096, (start - base + length) // 4096):
            check(bool(flags & HOLE) == (b % 2 == 1) or b >= blocks,
                  "block %d of the alternating pattern reported flags %d" % (b, flags))
    print("  alternating pattern of %d blocks: %d extents, all right" % (blocks, len(ext)))

    odd = extents(h, 1 * MIB + 100, 10)
    check(odd[0][2] & HOLE == 0, "unaligned status inside data says HOLE")
    last = extents(h, size - 1, 1)
    check(last[0][2] == HOLE | ZERO, "last byte of the export not HOLE|ZERO")
    print("  unaligned and last-byte requests ok")
    h.shutdown()


main(body)
