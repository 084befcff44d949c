#!/usr/bin/env python
"""A delaying TCP proxy (asyncio, standard library only).

Listens on LISTEN (host:port, port 0 picks a free one) and forwards every connection to TARGET,
holding each chunk for DELAY milliseconds in each direction (so a round trip gains 2 x DELAY),
in order, without limiting throughput: chunks are pipelined, each released DELAY after it was read.
`tc netem` is not available on the benchmark machines, so this stands in for a slow link.

On start it prints one line `LISTENING <host> <port>` on stdout (then nothing else there).
It is bounded: at most --max-connections at once (more are refused), at most --lifetime
seconds of life, and it exits when --parent-pid exits (checked every second).

    delay_proxy.py --listen 127.0.0.1:0 --target 10.213.1.2:16509 --delay-ms 1
"""

import argparse
import asyncio
import os
import signal
import socket
import sys

CHUNK = 256 * 1024
QUEUE_CHUNKS = 1024


def address(text):
    host, dummy, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host, int(port)


def nodelay(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class DelayProxy:
    def __init__(self, target, delay, max_connections):
        self.target = target
        self.delay = delay
        self.max_connections = max_connections
        self.connections = set()

    async def pipe(self, reader, writer):
        """Copy reader -> writer, releasing each chunk `delay` seconds after it arrived."""
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue(QUEUE_CHUNKS)

        async def receive():
            while True:
                try:
                    data = await reader.read(CHUNK)
                except (ConnectionError, OSError):
                    data = b""
                await queue.put((loop.time() + self.delay, data))
                if not data:
                    return

        async def send():
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        receiving = asyncio.ensure_future(receive())
        try:
            await send()
        finally:
            receiving.cancel()

    async def handle(self, client_reader, client_writer):
        if len(self.connections) >= self.max_connections:
            client_writer.close()
            return
        task = asyncio.current_task()
        self.connections.add(task)
        server_writer = None
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
            nodelay(client_writer)
            nodelay(server_writer)
            await asyncio.gather(self.pipe(client_reader, server_writer),
                                 self.pipe(server_reader, client_writer))
        except (ConnectionError, OSError):
            pass
        finally:
            self.connections.discard(task)
            for writer in (client_writer, server_writer):
                if writer is not None:
                    writer.close()


async def watch(parent_pid, lifetime):
    loop = asyncio.get_running_loop()
    end = loop.time() + lifetime
    while loop.time() < end:
        if parent_pid and not os.path.exists(f"/proc/{parent_pid}"):
            return
        await asyncio.sleep(1)


async def serve(arguments):
    proxy = DelayProxy(arguments.target, arguments.delay_ms / 1000.0, arguments.max_connections)
    server = await asyncio.start_server(proxy.handle, *arguments.listen, reuse_address=True)
    host, port = server.sockets[0].getsockname()[:2]
    print(f"LISTENING {host} {port}", flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stop.done() or stop.set_result(None))
    watcher = asyncio.ensure_future(watch(arguments.parent_pid, arguments.lifetime))
    async with server:
        await asyncio.wait([stop, watcher], return_when=asyncio.FIRST_COMPLETED)
    watcher.cancel()
    for task in list(proxy.connections):
        task.cancel()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=address, default=("127.0.0.1", 0), help="host:port (default 127.0.0.1:0)")
    parser.add_argument("--target", type=address, required=True, help="host:port to forward to")
    parser.add_argument("--delay-ms", type=float, default=1.0, help="one-way delay per direction (default 1)")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--lifetime", type=float, default=3600.0, help="exit after this many seconds")
    parser.add_argument("--parent-pid", type=int, default=0, help="exit when this process is gone")
    arguments = parser.parse_args()
    try:
        asyncio.run(serve(arguments))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
