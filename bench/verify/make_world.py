#!/usr/bin/env python3
"""From the bundled world.toml, writes DIR/world50.toml (50 ms latency on every bulk host reply)
and DIR/addresses.txt (2,004 addresses on the twelve bulk domains: 150 real mailboxes and 17
unknown ones per domain, plus the misbehaving hosts' addresses) plus DIR/truth.json (address -> deliverable|undeliverable)."""
import json
import re
import sys

src, out = sys.argv[1], sys.argv[2]
world = open(src).read()
# Every bulk host gets a wide-area round trip per reply.
world = re.sub(r'(mailbox_ranges = \[\{ prefix = "user", count = 200 \}\])', r'\1\nlatency = "50ms"', world)
open(f"{out}/world50.toml", "w").write(world)
truth = {}
for d in range(1, 13):
    for u in range(1, 151):
        truth[f"user{u}@bulk{d:02}.test"] = "deliverable"
    for u in range(201, 218):
        truth[f"user{u}@bulk{d:02}.test"] = "undeliverable"
# The misbehaving hosts of world.toml (greylisting, 421 banners, drops, catch-all, full and
# disabled mailboxes, blocks, tarpits), with the verdict their behaviour implies
# (tests/data/verify-world.txt, which the end-to-end tests hold mxray to).
import os
table = os.path.join(os.path.dirname(src), "../../../tests/data/verify-world.txt")
for line in open(table):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    addr, verdict, _reason = [f.strip() for f in line.split("|")]
    truth[addr] = verdict
open(f"{out}/addresses.txt", "w").write("\n".join(truth) + "\n")
json.dump(truth, open(f"{out}/truth.json", "w"))
