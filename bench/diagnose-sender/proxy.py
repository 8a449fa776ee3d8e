#!/usr/bin/env python3
"""A DNS proxy that adds latency: listens on UDP and TCP at LISTEN (IP:PORT, loopback), waits
DELAY ms per query, forwards it to UPSTREAM (the lab DNS), relays the answer.
Usage: proxy.py LISTEN UPSTREAM DELAY_MS COUNT_FILE  (the query count is written on SIGTERM)."""
import asyncio
import os
import signal
import sys
import time

listen, upstream, delay_ms, count_file = sys.argv[1:5]
L_IP, L_PORT = listen.rsplit(":", 1)
U_IP, U_PORT = upstream.rsplit(":", 1)
UP = (U_IP, int(U_PORT))
DELAY = int(delay_ms) / 1000
TIMEOUT = 5.0  # bounded: a query the lab never answers is dropped after this
MAX_TCP = 65535
count = 0
# PROXY_LOG=FILE: one line per query (ms since start, transport, name, type), to see the chain.
LOG = open(os.environ["PROXY_LOG"], "w") if os.environ.get("PROXY_LOG") else None
T0 = time.monotonic()
TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 52: "TLSA"}


def log(msg, proto):
    """Question name and type of a query, parsed with bounds checks (outside data)."""
    if LOG is None:
        return
    labels, i = [], 12
    while i < len(msg) and msg[i] != 0 and len(labels) < 128:
        n = msg[i]
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype = int.from_bytes(msg[i + 1:i + 3], "big") if i + 3 <= len(msg) else 0
    LOG.write(f"{(time.monotonic() - T0) * 1000:8.1f} {proto} {'.'.join(labels) or '.'} {TYPES.get(qtype, qtype)}\n")
    LOG.flush()


class Once(asyncio.DatagramProtocol):
    """One upstream UDP exchange."""

    def __init__(self, fut):
        self.fut = fut

    def datagram_received(self, data, addr):
        if not self.fut.done():
            self.fut.set_result(data)

    def error_received(self, exc):
        if not self.fut.done():
            self.fut.set_exception(exc)


async def forward_udp(data):
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    tr, _ = await loop.create_datagram_endpoint(lambda: Once(fut), remote_addr=UP)
    try:
        tr.sendto(data)
        return await asyncio.wait_for(fut, TIMEOUT)
    finally:
        tr.close()


class Front(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.tr = transport

    def datagram_received(self, data, addr):
        asyncio.ensure_future(self.answer(data, addr))

    async def answer(self, data, addr):
        global count
        count += 1
        log(data, "udp")
        await asyncio.sleep(DELAY)
        try:
            self.tr.sendto(await forward_udp(data), addr)
        except (OSError, asyncio.TimeoutError):
            pass


async def tcp_client(reader, writer):
    global count
    try:
        while True:
            head = await asyncio.wait_for(reader.readexactly(2), 30)
            msg = await reader.readexactly(int.from_bytes(head, "big"))
            count += 1
            log(msg, "tcp")
            await asyncio.sleep(DELAY)
            ur, uw = await asyncio.wait_for(asyncio.open_connection(*UP), TIMEOUT)
            try:
                uw.write(head + msg)
                await uw.drain()
                rhead = await asyncio.wait_for(ur.readexactly(2), TIMEOUT)
                n = int.from_bytes(rhead, "big")
                if n > MAX_TCP:
                    break
                reply = await asyncio.wait_for(ur.readexactly(n), TIMEOUT)
            finally:
                uw.close()
            writer.write(rhead + reply)
            await writer.drain()
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
        pass
    finally:
        writer.close()


async def main():
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(Front, local_addr=(L_IP, int(L_PORT)))
    server = await asyncio.start_server(tcp_client, L_IP, int(L_PORT))
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    print("ready", flush=True)
    await stop
    server.close()
    with open(count_file, "w") as f:
        f.write(f"{count}\n")


asyncio.run(main())
