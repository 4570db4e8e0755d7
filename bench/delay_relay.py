"""Added latency on the lab's SSH path when the kernel has no `sch_netem`.

This machine's kernel is built without CONFIG_NET_SCH_NETEM (`tc qdisc add ... netem` says
"Specified qdisc kind is unknown"), so bench/run.py redirects this host's TCP connections to
the lab network's port 22 (iptables nat OUTPUT, REDIRECT, only for 10.99.213.0/24:22 and only
while the lock is held) to this relay, which:
- waits one round trip (2 x delay) before connecting upstream (the TCP handshake's RTT),
- delivers every chunk in each direction `delay` seconds after it arrived, pipelined and in
  order (so a request/response pays 2 x delay = the added RTT, bulk data is not throttled).
Its own upstream sockets carry SO_MARK, which the iptables rule excludes (no loop).
Only loopback and the lab network see traffic. Usage: delay_relay.py PORT DELAY_MS MARK
"""
import asyncio
import socket
import struct
import sys

SO_ORIGINAL_DST = 80
SO_MARK = 36


async def _pipe(reader, writer, delay):
    loop = asyncio.get_running_loop()
    q: asyncio.Queue = asyncio.Queue()

    async def rx():
        try:
            while True:
                data = await reader.read(65536)
                await q.put((loop.time() + delay, data))
                if not data:
                    return
        except (OSError, asyncio.CancelledError):
            await q.put((loop.time(), b""))

    async def tx():
        while True:
            due, data = await q.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except OSError:
                return

    await asyncio.gather(rx(), tx(), return_exceptions=True)


async def _handle(cr, cw, delay, mark):
    sock = cw.get_extra_info("socket")
    uw = None
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        port, ip = struct.unpack("!2xH4s8x", raw)
        ip = socket.inet_ntoa(ip)
        await asyncio.sleep(2 * delay)          # the handshake's round trip
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        await asyncio.get_running_loop().sock_connect(s, (ip, port))
        ur, uw = await asyncio.open_connection(sock=s)
        await asyncio.gather(_pipe(cr, uw, delay), _pipe(ur, cw, delay), return_exceptions=True)
    except OSError:
        pass
    finally:
        for w in (cw, uw):
            if w is not None:
                try:
                    w.close()
                except OSError:
                    pass


async def main(port: int, delay: float, mark: int):
    srv = await asyncio.start_server(lambda r, w: _handle(r, w, delay, mark), "127.0.0.1", port,
                                     backlog=256)
    print("ready", flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) / 1000.0, int(sys.argv[3], 0)))
