"""Test helpers that speak real TCP: a fault-injecting proxy and a server that plays a recorded transcript."""

from __future__ import annotations

import asyncio
import contextlib

from callcenter.pbx.protocol import FrameSplitter, parse_frame, split_stream


class FaultyProxy:
    """Forwards bytes between an AMI client and a server, and can break the link on purpose."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self.stall_new = False
        self._server: asyncio.Server | None = None
        self._links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, dict[str, bool]]] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server:
            self._server.close()
        for client, upstream, _ in self._links:
            client.transport.abort()
            upstream.transport.abort()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        flags = {"stalled": self.stall_new}
        self._links.append((client_writer, up_writer, flags))

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, to_client: bool) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    if to_client and flags["stalled"]:
                        continue
                    writer.write(data)
            writer.transport.abort()

        await asyncio.gather(pipe(client_reader, up_writer, False), pipe(up_reader, client_writer, True))

    @property
    def latest(self) -> tuple[asyncio.StreamWriter, asyncio.StreamWriter, dict[str, bool]]:
        return self._links[-1]

    def inject(self, data: bytes) -> None:
        """Bytes the server never sent, straight to the client."""
        self.latest[0].write(data)

    def cut_mid_frame(self) -> None:
        """Half a frame, then the connection drops."""
        client, upstream, _ = self.latest
        client.write(b"Event: QueueCallerJoin\r\nPrivilege: agent,all\r\nChannel: Local/s@x-0000")
        client.transport.abort()
        upstream.transport.abort()

    def stall(self) -> None:
        """The server goes silent to the client, the TCP connection stays up."""
        self.latest[2]["stalled"] = True


class TranscriptServer:
    """Plays a recorded AMI session to a client: after each action it receives, it sends the recorded bytes up
    to and including the response to the matching recorded action, with the client's ActionID put in."""

    def __init__(self, data: bytes) -> None:
        self.banner, self.frames = split_stream(data)
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server:
            self._server.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{self.banner}\r\n".encode())
        recorded_ids: list[str] = []
        for frame in self.frames:
            message = parse_frame(frame)
            if message.kind == "response" and message.action_id and message.action_id not in recorded_ids:
                recorded_ids.append(message.action_id)
        cursor = 0
        splitter = FrameSplitter(expect_banner=False)
        mapping: dict[str, str] = {}
        with contextlib.suppress(ConnectionError):
            while cursor < len(self.frames) and (data := await reader.read(65536)):
                for action_frame in splitter.feed(data):
                    client_id = dict(line.split(": ", 1) for line in action_frame.decode().split("\r\n")
                                     if ": " in line).get("ActionID", "")
                    if len(mapping) < len(recorded_ids):
                        mapping[recorded_ids[len(mapping)]] = client_id
                    target = recorded_ids[len(mapping) - 1]
                    while cursor < len(self.frames):
                        frame = self.frames[cursor]
                        cursor += 1
                        for recorded, ours in mapping.items():
                            frame = frame.replace(f"ActionID: {recorded}".encode(), f"ActionID: {ours}".encode())
                        writer.write(frame + b"\r\n\r\n")
                        message = parse_frame(self.frames[cursor - 1])
                        if message.kind == "response" and message.action_id == target:
                            break
                await writer.drain()
        writer.close()
