"""Limits on wrong passwords, per account and per address, with delays that grow with each failure.

Three counters, each forgotten an hour after its last failure:
- the account from one address: the operator's own typos and a guesser at one machine. After `free_failures`
  the pair waits 30 s, then 60 s, 120 s ... up to `max_delay`.
- the address, whatever account it tries: one machine spraying many names.
- the account, from any address: a guesser spread over many addresses. This one would let an outsider lock an
  operator out for the whole shift, so it never applies to a browser that has logged into that account before
  (it holds a device token, as OWASP's "device cookie" scheme has it): the operator's own workstation always
  gets in with the right password, while new devices wait.

A supervisor (or `callcenter user unlock`) clears an account's counters and locks.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass

import redis.asyncio as aioredis

DEVICE_TOKEN_DAYS = 90


@dataclass(frozen=True)
class LockoutPolicy:
    free_failures: int = 5
    address_free_failures: int = 30
    account_free_failures: int = 30
    base_delay: float = 30.0
    max_delay: float = 900.0
    window: float = 3600.0

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row (0 while within the free ones)."""
        if failures < free:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(failures - free, 32))


@dataclass(frozen=True)
class Locked:
    retry_after: float
    scope: str  # pair | address | account


class LoginLimiter:
    def __init__(self, redis: aioredis.Redis, policy: LockoutPolicy | None = None) -> None:
        self.redis = redis
        self.policy = policy or LockoutPolicy()

    @staticmethod
    def _keys(username: str, address: str) -> dict[str, str]:
        return {"pair": f"login:pair:{username}:{address}", "address": f"login:address:{address}",
                "account": f"login:account:{username}"}

    @staticmethod
    def _device_key(username: str, token: str) -> str:
        return f"login:device:{username}:" + hashlib.sha256(token.encode()).hexdigest()

    async def known_device(self, username: str, token: str) -> bool:
        return bool(token) and len(token) <= 128 and bool(await self.redis.exists(self._device_key(username, token)))

    async def remember_device(self, username: str, token: str = "") -> str:
        """The device token for this account on this browser (a new one unless a valid one was presented)."""
        if not await self.known_device(username, token):
            token = secrets.token_urlsafe(24)
        await self.redis.set(self._device_key(username, token), "1", ex=DEVICE_TOKEN_DAYS * 86400)
        return token

    async def check(self, username: str, address: str, device_token: str = "") -> Locked | None:
        """Whether a login may be tried now; the longest wait that applies, if not."""
        keys = self._keys(username, address)
        scopes = ["pair", "address"] + ([] if await self.known_device(username, device_token) else ["account"])
        waits = [(await self.redis.pttl(keys[scope] + ":lock"), scope) for scope in scopes]
        longest = max(waits)
        return Locked(math.ceil(longest[0] / 1000), longest[1]) if longest[0] > 0 else None

    async def failed(self, username: str, address: str) -> None:
        keys = self._keys(username, address)
        frees = {"pair": self.policy.free_failures, "address": self.policy.address_free_failures,
                 "account": self.policy.account_free_failures}
        window = int(self.policy.window)
        async with self.redis.pipeline(transaction=True) as pipe:
            for scope in ("pair", "address", "account"):
                pipe.incr(keys[scope])
                pipe.expire(keys[scope], window)
            counts = (await pipe.execute())[0::2]
        for scope, count in zip(("pair", "address", "account"), counts, strict=True):
            delay = self.policy.delay(int(count), frees[scope])
            if delay > 0:
                await self.redis.set(keys[scope] + ":lock", "1", px=int(delay * 1000))
        await self.redis.sadd(f"login:pairs:{username}", address)
        await self.redis.expire(f"login:pairs:{username}", window)

    async def succeeded(self, username: str, address: str) -> None:
        keys = self._keys(username, address)
        await self.redis.delete(keys["pair"], keys["pair"] + ":lock")

    async def unlock(self, username: str) -> None:
        addresses = await self.redis.smembers(f"login:pairs:{username}")
        keys = [f"login:account:{username}", f"login:account:{username}:lock", f"login:pairs:{username}"]
        for address in addresses:
            pair = self._keys(username, address.decode() if isinstance(address, bytes) else str(address))["pair"]
            keys += [pair, pair + ":lock"]
        await self.redis.delete(*keys)

    async def locked_accounts(self) -> list[str]:
        """Accounts that a wrong-password delay holds now (from any address, or account-wide)."""
        names: set[str] = set()
        async for key in self.redis.scan_iter(match="login:*:lock", count=500):
            text = key.decode() if isinstance(key, bytes) else str(key)
            kind, _, rest = text[len("login:"):-len(":lock")].partition(":")
            if kind == "account":
                names.add(rest)
            elif kind == "pair":
                names.add(rest.split(":", 1)[0])
        return sorted(names)
