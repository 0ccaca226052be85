"""Users and sessions in Redis. Passwords are hashed with Argon2id (memory-hard); session tokens are stored
only as their SHA-256, so a copy of the database does not log anyone in."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import redis.asyncio as aioredis
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callcenter.accounts.interfaces import state_interface_for

ROLES = ("operator", "interpreter", "supervisor")
USERNAME = re.compile(r"[a-z][a-z0-9._-]{1,31}")
_hasher = PasswordHasher()
# Compared against when the user does not exist, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user")


class AccountError(ValueError):
    pass


class HasherBusy(RuntimeError):
    """More logins are waiting for a password check than the service takes on at once."""


class PasswordChecker:
    """Argon2 verification off the event loop, in a small pool of its own.

    Argon2id costs about 50 ms of CPU by design; run on the loop, six clients guessing passwords held up AMI
    events, IVR answers and every dashboard. The C library releases the GIL, so the threads really run beside the
    loop. At most `max_waiting` checks queue up; beyond that a login is refused at once (503), so a flood of
    guesses costs the service a bounded amount of work instead of a growing queue."""

    def __init__(self, workers: int = max(1, min(2, os.cpu_count() or 1)), max_waiting: int = 32) -> None:
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self.max_waiting = max_waiting
        self.waiting = 0

    @staticmethod
    def _verify(password_hash: str, password: str) -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def verify(self, password_hash: str, password: str) -> bool:
        if self.waiting >= self.max_waiting:
            raise HasherBusy("too many logins at once")
        self.waiting += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, self._verify, password_hash, password)
        finally:
            self.waiting -= 1


PASSWORD_CHECKER = PasswordChecker()


@dataclass
class User:
    username: str
    name: str
    role: str
    password_hash: str
    # The operator's queue member interface (Local/101@agents) and softphone extension (101).
    interface: str = ""
    extension: str = ""
    disabled: bool = False
    created_at: float = 0.0
    # The device app_queue watches for the member (QueueAdd's StateInterface), when the one derived from the
    # interface is not right (e.g. an operator whose Local channel rings another phone).
    state_interface: str = ""

    @property
    def queue_state_interface(self) -> str:
        """What QueueAdd sends as StateInterface ("" for none): the account's own, else the operator's softphone
        behind a `Local/<ext>@agents` interface."""
        return self.state_interface or state_interface_for(self.interface)

    def public(self) -> dict[str, object]:
        data = asdict(self)
        del data["password_hash"]
        return data


@dataclass
class Session:
    username: str
    role: str
    csrf: str
    expires_at: float


def hash_password(password: str) -> str:
    _check_password(password)
    return _hasher.hash(password)


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise AccountError("a password needs at least 10 characters")


class AccountStore:
    def __init__(self, redis: aioredis.Redis, session_hours: float = 12.0,
                 checker: PasswordChecker = PASSWORD_CHECKER) -> None:
        self.redis = redis
        self.session_seconds = int(session_hours * 3600)
        self.checker = checker

    async def add(self, username: str, name: str, role: str, password: str, interface: str = "",
                  extension: str = "", *, password_hash: str = "", state_interface: str = "") -> User:
        """A new account. `password_hash` (from `hash_password`) spares a second Argon2 run when many accounts
        start with one password (a simulated floor of a thousand operators)."""
        if not USERNAME.fullmatch(username):
            raise AccountError("a username is 2-32 lowercase letters, digits, '.', '_' or '-', starting with a letter")
        if role not in ROLES:
            raise AccountError(f"role is one of {', '.join(ROLES)}")
        if not password_hash:
            _check_password(password)
            password_hash = _hasher.hash(password)
        if any(c.isspace() for c in state_interface):
            raise AccountError("a state interface is one device name, e.g. PJSIP/101")
        user = User(username, name, role, password_hash, interface, extension, created_at=time.time(),
                    state_interface=state_interface)
        if not await self.redis.set(f"user:{username}", json.dumps(asdict(user)), nx=True):
            raise AccountError(f"user {username} exists already")
        await self.redis.sadd("users", username)
        return user

    async def get(self, username: str) -> User | None:
        text = await self.redis.get(f"user:{username}")
        return User(**json.loads(text)) if text else None

    async def save(self, user: User) -> None:
        await self.redis.set(f"user:{user.username}", json.dumps(asdict(user)))

    async def all(self) -> list[User]:
        names = sorted(await self.redis.smembers("users"))
        texts = await self.redis.mget([f"user:{name!s}" for name in names]) if names else []
        return [User(**json.loads(text)) for text in texts if text]

    async def set_password(self, username: str, password: str) -> None:
        user = await self.get(username)
        if user is None:
            raise AccountError(f"no user {username}")
        _check_password(password)
        user.password_hash = _hasher.hash(password)
        await self.save(user)
        await self.end_sessions(username)

    async def set_disabled(self, username: str, disabled: bool) -> None:
        user = await self.get(username)
        if user is None:
            raise AccountError(f"no user {username}")
        user.disabled = disabled
        await self.save(user)
        if disabled:
            await self.end_sessions(username)

    async def authenticate(self, username: str, password: str) -> User | None:
        user = await self.get(username) if USERNAME.fullmatch(username or "") else None
        if not await self.checker.verify(user.password_hash if user else _DUMMY_HASH, password):
            return None
        if user is None or user.disabled:
            return None
        return user

    # -- sessions ------------------------------------------------------------------------------------------

    @staticmethod
    def _session_key(token: str) -> str:
        return "session:" + hashlib.sha256(token.encode()).hexdigest()

    async def start_session(self, user: User) -> tuple[str, Session]:
        token = secrets.token_urlsafe(32)
        session = Session(user.username, user.role, secrets.token_urlsafe(24), time.time() + self.session_seconds)
        key = self._session_key(token)
        await self.redis.set(key, json.dumps(asdict(session)), ex=self.session_seconds)
        await self.redis.sadd(f"sessions:{user.username}", key)
        return token, session

    async def session(self, token: str) -> Session | None:
        if not token or len(token) > 128:
            return None
        text = await self.redis.get(self._session_key(token))
        if not text:
            return None
        session = Session(**json.loads(text))
        return session if session.expires_at > time.time() else None

    async def end_session(self, token: str) -> None:
        await self.redis.delete(self._session_key(token))

    async def end_sessions(self, username: str) -> None:
        keys = await self.redis.smembers(f"sessions:{username}")
        if keys:
            await self.redis.delete(*keys)
        await self.redis.delete(f"sessions:{username}")
