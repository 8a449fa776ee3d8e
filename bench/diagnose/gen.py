#!/usr/bin/env python3
"""Writes the lab worlds for bench/diagnose/run.sh into DIR:
latency.toml (one domain, two MX hosts, 50 ms per reply), bulk.toml + domains.txt (500 domains
on 20 shared MX hosts, 50 ms per reply, a realistic mix of healthy and broken set-ups)."""
import os
import sys

out = sys.argv[1]
LAT = "50ms"

with open(os.path.join(out, "latency.toml"), "w") as f:
    f.write(f"""[lab]
name = "latency"
[[domains]]
name = "two-mx.test"
mx = ["10 mx1.two-mx.test", "20 mx2.two-mx.test"]
txt = ["v=spf1 ip4:127.0.0.0/8 -all"]
[[hosts]]
name = "mx1.two-mx.test"
address = "127.0.3.1"
catch_all = true
latency = "{LAT}"
[[hosts]]
name = "mx2.two-mx.test"
address = "127.0.3.2"
catch_all = true
latency = "{LAT}"
""")

hosts = []
for i in range(20):
    kind = ["valid", "valid", "valid", "expired", "self-signed"][i % 5]
    hosts.append(f"""[[hosts]]
name = "mx{i}.bulk-mx.test"
address = "127.0.4.{i + 1}"
catch_all = true
latency = "{LAT}"
starttls = "{kind}"
""")
hosts.append("""[[hosts]]
name = "dead.bulk-mx.test"
address = "127.0.4.100"
refuse = true
""")
domains = []
names = []
for d in range(500):
    name = f"d{d:03}.bulk.test"
    names.append(name)
    shape = d % 10
    spf = "v=spf1 ip4:127.0.0.0/8 -all" if d % 3 else "v=spf1 +all"
    lines = [f'[[domains]]', f'name = "{name}"']
    if shape == 7:
        lines.append('mx = ["0 ."]')
    elif shape == 8:
        lines.append(f'mx = ["10 mx{d % 20}.bulk-mx.test", "20 dead.bulk-mx.test"]')
    elif shape == 9:
        lines.append('mx = ["10 nowhere.bulk-mx.test"]')
    else:
        lines.append(f'mx = ["10 mx{d % 20}.bulk-mx.test", "20 mx{(d + 7) % 20}.bulk-mx.test"]')
    lines.append(f'txt = ["{spf}"]')
    if d % 4:
        lines.append('[[domains.records]]\nname = "_dmarc"\ntxt = ["v=DMARC1; p=reject"]')
    domains.append("\n".join(lines) + "\n")

with open(os.path.join(out, "bulk.toml"), "w") as f:
    f.write('[lab]\nname = "bulk"\n\n' + "\n".join(hosts) + "\n" + "\n".join(domains))
with open(os.path.join(out, "domains.txt"), "w") as f:
    f.write("\n".join(names) + "\n")
