#!/usr/bin/python3
"""Block-level helpers for EcVolumeIT (python3-libnbd).

  ec_blocks.py write URI OFFSET FILE      pwrite FILE at OFFSET; exit 0, or 3 printing the NBD error
  ec_blocks.py read URI LENGTH EXPECTED   pread each 4 KiB block of [0, LENGTH) on its own and print
                                          one line per block: "<index> ok|mismatch|error <message>"
"""
import sys

import nbd

BLOCK = 4096


def main():
    mode, uri = sys.argv[1], sys.argv[2]
    h = nbd.NBD()
    h.connect_uri(uri)
    try:
        if mode == "write":
            offset = int(sys.argv[3])
            with open(sys.argv[4], "rb") as f:
                data = f.read()
            try:
                h.pwrite(data, offset)
            except nbd.Error as e:
                print("error", e.string)
                return 3
            h.flush()
            print("ok")
            return 0
        if mode == "read":
            length = int(sys.argv[3])
            with open(sys.argv[4], "rb") as f:
                expected = f.read()
            for i in range(length // BLOCK):
                try:
                    got = h.pread(BLOCK, i * BLOCK)
                except nbd.Error as e:
                    print(i, "error", e.string.replace("\n", " "))
                    continue
                print(i, "ok" if got == expected[i * BLOCK:(i + 1) * BLOCK] else "mismatch")
            return 0
        print("unknown mode", mode)
        return 2
    finally:
        h.shutdown()


if __name__ == "__main__":
    sys.exit(main())
