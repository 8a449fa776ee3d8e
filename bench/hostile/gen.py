#!/usr/bin/env python3
"""Hostile inputs for the memory benchmark (issue 11).

gen.py spf DIR         writes DIR/amplify.toml: a lab whose SPF tree amplifies lookups (the
                       root and 12 includes, 40 mx: terms each, 10 exchanges per name).
gen.py log N           writes to stdout N Postfix deferrals of distinct queue IDs that never
                       finish, all within one hour (the 10-day eviction never applies).
"""
import sys


def spf(out_dir):
    t = '[lab]\nname = "amplify"\ndescription = "An SPF tree built to amplify lookups"\n\n'
    terms = lambda at: " ".join(f"mx:m{i}.{at}amp.test" for i in range(40))
    inc = " ".join(f"include:r{k}.amp.test" for k in range(12))
    t += f'[[domains]]\nname = "amp.test"\ntxt = ["v=spf1 {terms("")} {inc} -all"]\n'
    for k in range(12):
        t += f'\n[[domains.records]]\nname = "r{k}"\ntxt = ["v=spf1 {terms(f"r{k}.")} -all"]\n'
    for at in [""] + [f"r{k}." for k in range(12)]:
        for i in range(40):
            mx = ", ".join(f'"10 h{j}.m{i}.{at}amp.test"' for j in range(10))
            name = f"m{i}.{at}".rstrip(".")
            t += f'\n[[domains.records]]\nname = "{name}"\nmx = [{mx}]\n'
    with open(f"{out_dir}/amplify.toml", "w") as f:
        f.write(t)


def log(n):
    w = sys.stdout.write
    for i in range(n):
        mm, ss = (i // 60000) % 60, (i // 1000) % 60
        w(
            f"Nov 20 10:{mm:02}:{ss:02} mail postfix/smtp[3]: {i:010X}: to=<u{i % 977}@d{i % 131}.test>, "
            f"relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred "
            f"(connect to mx.d{i % 131}.test[192.0.2.{i % 250}]:25: Connection refused)\n"
        )


if __name__ == "__main__":
    if sys.argv[1] == "spf":
        spf(sys.argv[2])
    else:
        log(int(sys.argv[2]))
