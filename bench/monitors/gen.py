#!/usr/bin/env python3
"""Writes the world for bench/monitors/run.sh into DIR: N domains (default 10,000) on 20 shared
MX hosts ("providers") with 20 ms per reply, and monitors.toml watching each hourly."""
import os
import sys

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
HOSTS = 20

with open(os.path.join(out, "world.toml"), "w") as f:
    f.write('[lab]\nname = "monitors-bench"\ndescription = "monitored domains on shared providers"\n')
    for i in range(HOSTS):
        f.write(f"""
[[hosts]]
name = "mx{i}.provider{i}.test"
address = "127.0.6.{i + 1}"
catch_all = true
latency = "20ms"
""")
    for d in range(n):
        p = d % HOSTS
        # Most set-ups healthy, some with the usual sender-side gaps.
        spf = "v=spf1 mx -all" if d % 4 else "v=spf1 +all"
        f.write(f"""
[[domains]]
name = "d{d:05}.bench.test"
mx = ["10 mx{p}.provider{p}.test"]
txt = ["{spf}"]
""")
        if d % 3:
            f.write(f"""[[domains.records]]
name = "_dmarc"
txt = ["v=DMARC1; p=reject; rua=mailto:dmarc@d{d:05}.bench.test"]
""")

with open(os.path.join(out, "monitors.toml"), "w") as f:
    f.write('[defaults]\ninterval = "1h"\n')
    for d in range(n):
        f.write(f'\n[[monitor]]\ndomain = "d{d:05}.bench.test"\n')
