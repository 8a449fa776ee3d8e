#!/usr/bin/env python3
"""Writes the lab world for bench/diagnose-sender/run.sh into DIR and prints, as JSON, the
longest dependency chain of DNS lookups a full sender-side check of each domain must make
(computed from the records below, not measured): sender.toml, dnsbl.txt, chain.json."""
import json
import os
import sys

out = sys.argv[1]

# name -> records. Relative names are under their domain; the chain walk below reads these.
DOMAINS = {
    # Healthy apart from one listed address, with the deepest chain: SPF includes three deep,
    # then an `a:` whose address is on a lab blocklist (DNSBL A, then its TXT reason).
    "sender.test": {
        "mx": ["10 mx.sender.test"],
        "txt": ["v=spf1 include:_spf1.sender.test mx ip4:127.0.2.16/30 -all"],
        "records": {
            "_spf1": {"txt": ["v=spf1 include:_spf2.sender.test -all"]},
            "_spf2": {"txt": ["v=spf1 include:_spf3.sender.test -all"]},
            "_spf3": {"txt": ["v=spf1 a:out.sender.test -all"]},
            "out": {"a": ["127.0.2.9"]},
            "_dmarc": {"txt": ["v=DMARC1; p=reject; rua=mailto:agg@reports.test; adkim=s"]},
            "_smtp._tls": {"txt": ["v=TLSRPTv1; rua=mailto:tlsrpt@sender.test"]},
        },
    },
    # Broken on purpose, for the findings comparison: 11 lookups, ?all, DMARC p=none, no rua.
    "broken.test": {
        "mx": ["10 mx.sender.test"],
        "txt": [
            "v=spf1 a mx include:_a.broken.test include:_b.broken.test include:_c.broken.test "
            "include:_d.broken.test include:_e.broken.test exists:x.broken.test ?all"
        ],
        "records": {
            "_a": {"txt": ["v=spf1 a:h1.broken.test a:h2.broken.test -all"]},
            "_b": {"txt": ["v=spf1 a:h3.broken.test -all"]},
            "_c": {"txt": ["v=spf1 ip4:127.0.5.1 -all"]},
            "_d": {"txt": ["v=spf1 ip4:127.0.5.2 -all"]},
            "_e": {"txt": ["v=spf1 ip4:127.0.5.3 -all"]},
            "h1": {"a": ["127.0.5.11"]},
            "_dmarc": {"txt": ["v=DMARC1; p=none"]},
        },
    },
    "reports.test": {
        "mx": ["10 mx.sender.test"],
        "txt": ["v=spf1 -all"],
        "records": {"sender.test._report._dmarc": {"txt": ["v=DMARC1"]}},
    },
}
HOSTS = {"mx.sender.test": "127.0.2.1"}
LISTED = {"127.0.2.9": "127.0.0.2"}
BL = "bl.dnsbl.test"


def q(s):
    return json.dumps(s)


lines = ['[lab]\nname = "diagnose-sender"\n']
lines.append(f'[[dnsbls]]\nzone = "{BL}"\nlisted = [' + ", ".join(
    f'{{ entry = "{e}", code = "{c}", reason = "bench listing" }}' for e, c in LISTED.items()) + "]\n")
for d, spec in DOMAINS.items():
    lines.append(f'[[domains]]\nname = "{d}"\nmx = {q(spec["mx"])}\ntxt = {q(spec["txt"])}\n')
    for name, recs in spec["records"].items():
        body = "".join(f"{k} = {q(v)}\n" for k, v in recs.items())
        lines.append(f'[[domains.records]]\nname = "{name}"\n{body}')
for h, a in HOSTS.items():
    lines.append(f'[[hosts]]\nname = "{h}"\naddress = "{a}"\ncatch_all = true\n')
with open(os.path.join(out, "sender.toml"), "w") as f:
    f.write("\n".join(lines))
with open(os.path.join(out, "dnsbl.txt"), "w") as f:
    f.write(f"ip {BL}\n")

# ---- the longest dependency chain, from the records ----
def records(name):
    name = name.rstrip(".").lower()
    if name in HOSTS:
        return {"a": [HOSTS[name]]}
    for d, spec in DOMAINS.items():
        if name == d:
            return {"txt": spec["txt"], "mx": spec["mx"]}
        for rel, recs in spec["records"].items():
            if name == f"{rel}.{d}":
                return recs
    return {}


def ip_tail(ip):
    """A blocklist query for an address, then its TXT reason when it is listed."""
    return 2 if ip in LISTED else 1


def addr_chain(host):
    """A/AAAA of a host, then the blocklist queries for what came back."""
    ips = records(host).get("a", [])
    return 1 + max([ip_tail(i) for i in ips], default=0)


def spf_chain(domain, seen=()):
    """The TXT query, then the longest of what its terms need (include depth first)."""
    spf = [t for t in records(domain).get("txt", []) if t.lower().startswith("v=spf1")]
    if len(spf) != 1 or domain in seen:
        return 1
    best = 0
    for term in spf[0].split()[1:]:
        t = term.lstrip("+-~?").lower()
        if t.startswith(("include:", "redirect=")):
            best = max(best, spf_chain(t.split(":", 1)[-1].split("=", 1)[-1], seen + (domain,)))
        elif t == "a" or t.startswith("a:"):
            best = max(best, addr_chain(t[2:] or domain))
        elif t == "mx" or t.startswith("mx:"):
            mxs = records(t[3:] or domain).get("mx", [])
            best = max(best, 1 + max([addr_chain(m.split()[-1]) for m in mxs], default=0))
        elif t.startswith("exists:"):
            best = max(best, 1)
        elif t.startswith("ip4:"):
            best = max(best, 1)  # the authorised network's blocklist query (one address)
    return 1 + best


chains = {}
for d, spec in DOMAINS.items():
    if d == "reports.test":
        continue
    dmarc = records(f"_dmarc.{d}").get("txt", [""])[0]
    external = "rua=mailto:" in dmarc and not dmarc.split("rua=mailto:")[1].split(";")[0].endswith(d)
    parts = {
        "spf (include depth, then a/mx, then DNSBL A and TXT)": spf_chain(d),
        "dmarc (then the external report domain's authorisation)": 1 + (1 if external else 0),
        "mx hosts on blocklists (MX, A, DNSBL A, TXT)": 1 + max(addr_chain(m.split()[-1]) for m in spec["mx"]),
        "dkim / bimi / tls-rpt / blocklist self-test": 1,
    }
    chains[d] = {"parts": parts, "longest": max(parts.values())}
with open(os.path.join(out, "chain.json"), "w") as f:
    json.dump(chains, f, indent=1)
print(json.dumps(chains))
