"""Pipelined requests (many in flight, mixed sizes and commands) all complete with the right data,
whatever order the server answers in; the largest request (32 MiB) works."""
import random
import nbd
from nbdit import *

MIB = 1 << 20


def body(args):
    h = connect(args[0])
    size = h.get_size()
    rng = random.Random(7)
    slots = list(range(0, 16 * MIB, 128 * 1024))
    rng.shuffle(slots)
    writes = []
    for i, offset in enumerate(slots[:96]):
        length = rng.choice((512, 4096, 65536, 128 * 1024, 1000))
        writes.append((offset, random_bytes(100 + i, length)))
    cookies = [h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(d)), o) for (o, d) in writes]
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for c in cookies:
        check(h.aio_command_completed(c), "write %d not completed" % c)
    print("  %d pipelined writes done" % len(writes))

    reads = []
    for (offset, d) in writes:
        buf = nbd.Buffer(len(d))
        reads.append((buf, d, offset, h.aio_pread(buf, offset)))
        if len(reads) % 8 == 0:
            h.aio_zero(4096, 32 * MIB + len(reads) * 8192)
            h.aio_block_status(65536, 0, lambda *a: 0)
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for (buf, d, offset, c) in reads:
        check(h.aio_command_completed(c), "read at %d not completed" % offset)
        check(buf.to_bytearray() == bytearray(d), "pipelined read at %d returned wrong data" % offset)
    print("  %d pipelined reads verified" % len(reads))

    if size >= 64 * MIB:
        big = random_bytes(8, 32 * MIB)
        h.pwrite(big, size - 32 * MIB)
        check(h.pread(32 * MIB, size - 32 * MIB) == big, "32 MiB request round trip failed")
        print("  32 MiB request ok")
    h.shutdown()


main(body)
