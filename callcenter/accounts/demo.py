"""Demo accounts for `callcenter run`: two operators, a supervisor and an interpreter, with fresh passwords each
run (printed in the banner, never written to a file).

The operators have lines of their own: `Local/101@agents` and `Local/102@agents`, the softphones `PJSIP/101`
and `PJSIP/102` of config/pjsip.conf. The PBX simulator's own operators are `Local/1@agents` to
`Local/<simulator.agents>@agents`, logged in and taking calls from the start; a demo operator who shared one of
those lines would log in "talking" already and be told "Already there" on joining the queue. Theirs are free,
and not in the queue until they join it from the dashboard (the simulator counts their phones as registered).
"""

from __future__ import annotations

import secrets

import redis.asyncio as aioredis

from callcenter.accounts.store import AccountStore

DEMO_USERS = (
    ("operator1", "Оператор 1", "operator", "Local/101@agents", "101"),
    ("operator2", "Оператор 2", "operator", "Local/102@agents", "102"),
    ("supervisor", "Старший смены", "supervisor", "", ""),
    ("interpreter1", "Сурдопереводчик 1", "interpreter", "", ""),
)


async def ensure_demo_users(redis_url: str) -> list[tuple[str, str, str]]:
    """(username, password, role) for each demo user, creating or resetting them (an account left by an older
    run gets the demo line again, should it have had another)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    accounts = AccountStore(client)
    logins = []
    try:
        for username, name, role, interface, extension in DEMO_USERS:
            password = secrets.token_urlsafe(9)
            user = await accounts.get(username)
            if user is None:
                await accounts.add(username, name, role, password, interface, extension)
            else:
                if (user.interface, user.extension, user.state_interface) != (interface, extension, ""):
                    user.interface, user.extension, user.state_interface = interface, extension, ""
                    await accounts.save(user)
                await accounts.set_password(username, password)
                await accounts.set_disabled(username, False)
            logins.append((username, password, role))
    finally:
        await client.aclose()
    return logins
