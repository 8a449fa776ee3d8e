#!/usr/bin/env python3
"""Writes an mbox of N bounce messages by cycling through a directory of .eml files.

Usage: gen.py SAMPLES_DIR N OUT.mbox

Each message is preceded by a `From MAILER-DAEMON <asctime date>` line and followed by a blank
line. A sample's own envelope line (a first line starting with "From ") is replaced by ours.
Body lines are escaped the mboxrd way: a line matching /^>*From / gets one more '>', so a body
"From " line becomes ">From " and neither reader splits the message there. Line endings are
kept as the samples have them (a few use CRLF). Deterministic: the files in name order, the
dates one second apart from 2026-12-01 00:00:00 UTC.
"""

import os
import re
import sys
import time

ESCAPE = re.compile(rb"^(>*From )", re.MULTILINE)
BASE = 1796083200  # 2026-12-01 00:00:00 UTC


def prepare(raw: bytes) -> bytes:
    if raw.startswith(b"From "):
        # The sample's own mbox envelope line: ours replaces it.
        nl = raw.find(b"\n")
        raw = b"" if nl < 0 else raw[nl + 1 :]
    raw = ESCAPE.sub(rb">\1", raw)
    if not raw.endswith(b"\n"):
        raw += b"\n"
    return raw + b"\n"


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit("usage: gen.py SAMPLES_DIR N OUT.mbox")
    src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    names = sorted(f for f in os.listdir(src) if f.endswith(".eml"))
    if not names:
        sys.exit(f"gen.py: no .eml files in {src}")
    bodies = []
    for name in names:
        with open(os.path.join(src, name), "rb") as f:
            bodies.append(prepare(f.read()))
    with open(out, "wb", buffering=1 << 20) as f:
        for i in range(n):
            date = time.asctime(time.gmtime(BASE + i)).encode()
            f.write(b"From MAILER-DAEMON " + date + b"\n")
            f.write(bodies[i % len(bodies)])


if __name__ == "__main__":
    main()
