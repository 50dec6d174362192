"""The bot's socket is corked for one turn of the event loop, then released: a burst
relayed in one turn leaves together, and nothing is held past that turn."""

from __future__ import annotations

import asyncio
import socket

import pytest

from birbctl.proxy.cork import Cork

linux_cork = pytest.mark.skipif(
    not hasattr(socket, "TCP_CORK"), reason="TCP_CORK is Linux's; elsewhere writes go as they come"
)


def corked(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)


@linux_cork
def test_held_for_the_rest_of_the_turn_then_released() -> None:
    async def run() -> None:
        received: asyncio.Queue[bytes] = asyncio.Queue()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(1 << 16):
                received.put_nowait(data)

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        sock = writer.get_extra_info("socket")
        cork = Cork(writer.transport)
        cork.hold()
        cork.hold()  # a second hold in the same turn is the same hold
        assert corked(sock) == 1
        for i in range(5):
            writer.write(b"message %d;" % i)
        assert corked(sock) == 1  # still held: the turn is not over
        await asyncio.sleep(0)  # the next turn of the loop
        assert corked(sock) == 0
        got = b""
        async with asyncio.timeout(5):
            while len(got) < 50:
                got += await received.get()
        assert got == b"".join(b"message %d;" % i for i in range(5))
        cork.hold()  # a later burst is held again
        assert corked(sock) == 1
        cork.release()
        assert corked(sock) == 0
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(run())


def test_no_socket_or_a_closed_one_writes_as_it_comes() -> None:
    async def run() -> None:
        Cork(None).hold()  # nothing to cork: no error, nothing scheduled
        left, right = socket.socketpair()  # not TCP: the option is refused, once
        _, writer = await asyncio.open_connection(sock=left)
        cork = Cork(writer.transport)
        cork.hold()
        cork.hold()
        cork.release()
        writer.close()
        right.close()

    asyncio.run(run())
