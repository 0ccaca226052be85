"""Demo accounts for `callcenter run`: two operators (members of the simulated queue), a supervisor and an
interpreter, with fresh passwords each run (printed in the banner, never written to a file)."""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

from callcenter.accounts.store import AccountStore

DEMO_USERS = (
    ("operator1", "Оператор 1", "operator", "Local/1@agents", "101"),
    ("operator2", "Оператор 2", "operator", "Local/2@agents", "102"),
    ("supervisor", "Старший смены", "supervisor", "", ""),
    ("interpreter1", "Сурдопереводчик 1", "interpreter", "", ""),
)


async def ensure_demo_users(redis_url: str) -> list[tuple[str, str, str]]:
    """(username, password, role) for each demo user, creating or resetting them."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    accounts = AccountStore(client)
    logins = []
    try:
        for username, name, role, interface, extension in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            if await accounts.get(username) is None:
                await accounts.add(username, name, role, password, interface, extension)
            else:
                await accounts.set_password(username, password)
                await accounts.set_disabled(username, False)
            logins.append((username, password, role))
    finally:
        await client.aclose()
    return logins
