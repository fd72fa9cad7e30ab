"""acked_writes.py write|verify URI LOG: the kill -9 test.

write: pipelined 4 KiB WRITEs (16 in flight), each to its own 4 KiB slot (never reused), and
appends "slot seed" to LOG as soon as the server acknowledges the write; runs until the server
dies (the test SIGKILLs it), then exits 0 with "ok".
verify: every slot in LOG holds exactly its data: no acknowledged write may be lost.
"""
import os
import random
import sys
import time
import nbd
from nbdit import *

BLOCK = 4096


def data_for(seed):
    return random.Random(seed).randbytes(BLOCK)


def write(uri, log_path):
    h = connect(uri)
    slots = list(range(h.get_size() // BLOCK))
    random.Random(99).shuffle(slots)
    log = open(log_path, "w", buffering=1)
    in_flight = {}

    def done(slot, seed):
        def callback(error):
            if error.value == 0:
                log.write("%d %d\n" % (slot, seed))
            return 1  # auto-retire the command
        return callback

    next_index = 0
    try:
        while True:
            while h.aio_in_flight() < 16 and next_index < len(slots):
                slot = slots[next_index]
                seed = 1_000_000 + next_index
                next_index += 1
                buf = nbd.Buffer.from_bytearray(bytearray(data_for(seed)))
                h.aio_pwrite(buf, slot * BLOCK, completion=done(slot, seed))
            if next_index >= len(slots) and h.aio_in_flight() == 0:
                time.sleep(0.05)  # every slot written: wait to be killed, pinging the server
                h.pread(512, 0)
            else:
                h.poll(-1)
    except nbd.Error as e:
        print("  server gone after %d writes issued: %s" % (next_index, e.string))
    log.close()


def verify(uri, log_path):
    h = connect(uri)
    entries = [tuple(map(int, line.split())) for line in open(log_path) if line.strip()]
    check(entries, "no acknowledged writes were logged")
    lost = [(slot, seed) for (slot, seed) in entries if h.pread(BLOCK, slot * BLOCK) != data_for(seed)]
    check(not lost, "%d of %d acknowledged writes lost, e.g. slot %s" % (len(lost), len(entries), lost[:5]))
    print("  all %d acknowledged writes present" % len(entries))
    h.shutdown()


def body(args):
    mode, uri, log_path = args
    if mode == "write":
        write(uri, log_path)
    else:
        verify(uri, log_path)


main(body)
