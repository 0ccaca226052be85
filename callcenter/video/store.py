"""Video sessions in Redis: the session (its states with timestamps), the resident's token, the chat.

The media lives in the serving instance's memory (video is sticky to its instance); what a supervisor or a
report needs afterwards — the session's history and its chat — is kept here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

import redis.asyncio as aioredis

from callcenter.video.model import VideoSession

SESSION = "video:session:"
TOKEN = "video:token:"  # noqa: S105 - a key prefix, not a secret
CHAT = "video:chat:"
ACTIVE = "video:active"
ENDED = "video:ended"
MAX_CHAT_TEXT = 2000
APPEND_BOUNDED = """
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
return 1
"""


def token_key(token: str) -> str:
    # Only a hash is stored: a copy of the database does not let anyone join a resident's call.
    return TOKEN + hashlib.sha256(token.encode()).hexdigest()


class VideoStore:
    def __init__(self, redis: aioredis.Redis, retention_days: float = 90.0) -> None:
        self.redis = redis
        self.retention = int(retention_days * 86400)

    async def create(self, session: VideoSession, token_hours: float) -> str:
        token = secrets.token_urlsafe(24)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(SESSION + session.id, json.dumps(session.to_json()))
            pipe.set(token_key(token), session.id, ex=int(token_hours * 3600))
            pipe.zadd(ACTIVE, {session.id: session.created_at})
            await pipe.execute()
        return token

    async def session_for_token(self, token: str) -> str | None:
        if not isinstance(token, str) or not token or len(token) > 100:
            return None
        found = await self.redis.get(token_key(token))
        return found.decode() if isinstance(found, bytes) else found

    async def get(self, session_id: str) -> VideoSession | None:
        raw = await self.redis.get(SESSION + session_id)
        return VideoSession.from_json(json.loads(raw)) if raw else None

    async def save(self, session: VideoSession) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if session.ended:
                pipe.set(SESSION + session.id, json.dumps(session.to_json()), ex=self.retention)
                pipe.expire(CHAT + session.id, self.retention)
                pipe.zrem(ACTIVE, session.id)
                pipe.zadd(ENDED, {session.id: session.created_at})
                pipe.zremrangebyscore(ENDED, 0, session.created_at - self.retention)
            else:
                pipe.set(SESSION + session.id, json.dumps(session.to_json()))
            await pipe.execute()

    async def active(self) -> list[VideoSession]:
        ids = [_text(i) for i in await self.redis.zrange(ACTIVE, 0, -1)]
        return await self._many(ids)

    async def between(self, start: float, end: float) -> list[VideoSession]:
        """Sessions started in [start, end), ended or not: for the day report."""
        ids: set[str] = set()
        for key in (ACTIVE, ENDED):
            ids.update(_text(i) for i in await self.redis.zrangebyscore(key, start, f"({end}"))
        return await self._many(sorted(ids))

    async def _many(self, ids: list[str]) -> list[VideoSession]:
        if not ids:
            return []
        raws = await self.redis.mget([SESSION + i for i in ids])
        return [VideoSession.from_json(json.loads(raw)) for raw in raws if raw]

    async def add_chat(self, session_id: str, role: str, text: str, now: float,
                       max_lines: int = 500) -> dict[str, Any] | None:
        """Append a line, unless the chat holds `max_lines` already (None then): one script, so two writers
        cannot both take the last place."""
        entry = {"from": role, "text": text[:MAX_CHAT_TEXT], "at": now}
        added = await self.redis.eval(APPEND_BOUNDED, 1, CHAT + session_id, json.dumps(entry, ensure_ascii=False),
                                      max_lines)
        return entry if int(added) else None

    async def count_start(self, address: str, now: float) -> int:
        """Count a session started from `address` in this clock hour; how many that makes."""
        key = f"video:starts:{address}:{int(now) // 3600}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 7200)
            count, _ = await pipe.execute()
        return int(count)

    async def chat(self, session_id: str) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in await self.redis.lrange(CHAT + session_id, 0, -1)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
