"""Staff WebSockets end with their login session.

Logging out closes the session's open streams at once. A session can also end in another process (a password
changed or an account disabled with `callcenter user`, a session that expired), so each stream also checks its
session every `http.session_check_seconds` and closes when it is gone. The close code tells the page to show
the login form instead of reconnecting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator

from aiohttp import web

from callcenter.accounts.store import AccountStore

SESSION_ENDED = 4401  # a private close code (4000-4999): the dashboard knows it


class StaffSockets:
    """The open WebSockets of each staff session (by its cookie token)."""

    def __init__(self) -> None:
        self._by_token: defaultdict[str, set[web.WebSocketResponse]] = defaultdict(set)

    def add(self, token: str, ws: web.WebSocketResponse) -> None:
        self._by_token[token].add(ws)

    def discard(self, token: str, ws: web.WebSocketResponse) -> None:
        sockets = self._by_token.get(token)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                del self._by_token[token]

    async def close_session(self, token: str) -> int:
        sockets = list(self._by_token.pop(token, ()))
        for ws in sockets:
            await ws.close(code=SESSION_ENDED, message=b"session ended")
        return len(sockets)


STAFF_SOCKETS = web.AppKey("staff_sockets", StaffSockets)
SESSION_CHECK_SECONDS = web.AppKey("session_check_seconds", float)


async def _still_valid(accounts: AccountStore, token: str) -> bool:
    session = await accounts.session(token)
    if session is None:
        return False
    user = await accounts.get(session.username)
    return user is not None and not user.disabled


@contextlib.asynccontextmanager
async def tied_to_session(request: web.Request, ws: web.WebSocketResponse, accounts: AccountStore,
                          token: str) -> AsyncIterator[None]:
    """While the block runs, `ws` belongs to the staff session `token` and closes when that session ends."""
    sockets = request.app[STAFF_SOCKETS]
    every = request.app[SESSION_CHECK_SECONDS]

    async def watch() -> None:
        while not ws.closed:
            await asyncio.sleep(every)
            if not await _still_valid(accounts, token):
                await ws.close(code=SESSION_ENDED, message=b"session ended")

    sockets.add(token, ws)
    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        sockets.discard(token, ws)
