"""FLUSH and FUA are advertised and work; with multi-conn, a write on one connection followed by
FLUSH is visible on another connection; CACHE is accepted."""
import nbd
from nbdit import *

MIB = 1 << 20


def body(args):
    uri = args[0]
    a = connect(uri)
    b = connect(uri)
    check(a.can_flush(), "FLUSH not advertised")
    check(a.can_fua(), "FUA not advertised")

    data = random_bytes(5, 1 * MIB)
    a.pwrite(data, 0, nbd.CMD_FLAG_FUA)
    check(a.pread(1 * MIB, 0) == data, "WRITE|FUA not read back")
    a.flush()
    a.flush()
    print("  WRITE|FUA and FLUSH ok")

    check(a.can_multi_conn(), "multi-conn not advertised")
    other = random_bytes(6, 256 * 1024)
    a.pwrite(other, 2 * MIB)
    a.flush()
    check(b.pread(len(other), 2 * MIB) == other, "write+FLUSH on one connection not seen on another")
    b.pwrite(data[:4096], 3 * MIB, nbd.CMD_FLAG_FUA)
    check(a.pread(4096, 3 * MIB) == data[:4096], "WRITE|FUA on one connection not seen on another")
    print("  multi-conn consistency ok")

    if a.can_cache():
        a.cache(1 * MIB, 0)
        print("  CACHE ok")

    # FLUSH with writes still in flight on the same connection.
    cookies = [a.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data[i * 4096:(i + 1) * 4096])),
                            4 * MIB + i * 4096) for i in range(64)]
    cookies.append(a.aio_flush())
    while a.aio_in_flight() > 0:
        a.poll(-1)
    for c in cookies:
        check(a.aio_command_completed(c), "pipelined command %d not completed" % c)
    check(b.pread(64 * 4096, 4 * MIB) == data[:64 * 4096], "pipelined writes + FLUSH not visible")
    print("  pipelined writes + FLUSH ok")
    a.shutdown()
    b.shutdown()


main(body)
