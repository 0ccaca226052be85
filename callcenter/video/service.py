"""Video sessions end to end: the resident's request, the interpreters' pool, the operator from the hotline
queue, the media hub, chat, drops and rejoins, the end. Every transition is saved and pushed.

The operator is found the way a voice caller's is: a silent placeholder (Local/<id>@video-placeholder) waits
in the Asterisk hotline queue in the same fairness order as the callers, and when app_queue connects an
operator to it, that operator's dashboard is told to join the video. The operator's phone stays busy for the
session, so app_queue does not give them a voice call meanwhile. Without a PBX link, operators take sessions
from the dashboard's video panel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from redis.exceptions import RedisError

from callcenter import timebase
from callcenter.config import VideoSettings
from callcenter.hours import WorkingHours
from callcenter.tasks import stop_if_cancelled
from callcenter.video.limits import MAX_CHAT_CHARS, MAX_CHAT_LINES, StartLimits, TokenBucket
from callcenter.video.media import MediaError, MediaHub, Participant
from callcenter.video.model import InvalidTransition, VideoSession
from callcenter.video.pool import InterpreterPool, Offer
from callcenter.video.recording import remove_expired
from callcenter.video.rtt import BURST, PER_SECOND, Line, Shown, Throttle
from callcenter.video.rtt import MAX_MESSAGE as MAX_TEXT_MESSAGE
from callcenter.video.store import VideoStore

log = logging.getLogger(__name__)

Push = Callable[[dict[str, Any]], Awaitable[None]]
PLACEHOLDER_PREFIX = "video-"
RETENTION_SWEEP_SECONDS = 3600.0


class VideoPbx(Protocol):
    async def originate(self, headers: list[tuple[str, str]]) -> None: ...
    async def hangup(self, uniqueid: str) -> None: ...


class VideoError(Exception):
    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


@contextlib.contextmanager
def out_of_order() -> Iterator[None]:
    """A step the session's state does not allow: a 409 saying why, the session unchanged."""
    try:
        yield
    except InvalidTransition as exc:
        raise VideoError(409, exc.code, exc.message) from exc


# How many times a session app_queue gave to a phone without a dashboard account goes back to the queue.
MAX_REQUEUES = 3


def placeholder_uniqueid(session_id: str) -> str:
    return PLACEHOLDER_PREFIX + session_id


def operator_half_uniqueid(session_id: str) -> str:
    """The Uniqueid of the placeholder's half that reaches the operator (Originate ChannelId). Not an extension
    of the queue half's id: Asterisk refuses a channel id that is a prefix of a live one's."""
    return "operator-" + placeholder_uniqueid(session_id)


def session_of_placeholder(uniqueid: str) -> str | None:
    return uniqueid.removeprefix(PLACEHOLDER_PREFIX) if uniqueid.startswith(PLACEHOLDER_PREFIX + "v") else None


class VideoService:
    def __init__(self, store: VideoStore, hub: MediaHub, settings: VideoSettings, hours: WorkingHours,
                 notify: Callable[[dict[str, Any]], None] = lambda change: None,
                 pbx: VideoPbx | None = None, interface_user: Callable[[str], Awaitable[str | None]] | None = None,
                 queue_wait: Callable[[str], tuple[int, float | None] | None] | None = None,
                 clock: Callable[[], float] = timebase.now) -> None:
        self.store = store
        self.hub = hub
        self.settings = settings
        self.hours = hours
        self.notify = notify
        self.pbx = pbx
        self.interface_user = interface_user
        self.queue_wait = queue_wait
        self.clock = clock
        self.pool = InterpreterPool(offer_seconds=settings.offer_seconds)
        self.sessions: dict[str, VideoSession] = {}
        self.assigned_operator: dict[str, str] = {}
        self.placeholders: set[str] = set()
        self._requeued: dict[str, int] = {}
        self._pushers: dict[tuple[str, str], Push] = {}
        self._drops: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        # The address each live session was started from, and each participant's chat allowance.
        self.addresses: dict[str, str] = {}
        self.start_limits = StartLimits(settings.live_sessions_per_address, settings.sessions_per_address_hour)
        self._chat_buckets: dict[tuple[str, str], TokenBucket] = {}
        # Real-time text: each participant's line, what each receiver was sent of it, the send throttles.
        self._lines: dict[tuple[str, str], Line] = {}
        self._shown: dict[tuple[str, str, str], Shown] = {}
        self._text_throttles: dict[tuple[str, str], Throttle] = {}
        self._text_due: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._text_buckets: dict[tuple[str, str], TokenBucket] = {}
        hub.on_chat = self._chat_from_media
        hub.on_text = self._text_from_media
        hub.on_state = self._media_state

    # -- residents -------------------------------------------------------------------------------------------

    async def start(self, mode: str, record: bool, address: str = "") -> tuple[VideoSession, str]:
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC)
        if not self.hours.is_open(at):
            opening = self.hours.next_opening(at)
            raise VideoError(409, "closed", "the hotline is closed now",
                             {"opens_at": opening.isoformat() if opening else None})
        if address:
            await self._admit(address, now)
        try:
            session = VideoSession.start(mode, now, record=record)
        except InvalidTransition as exc:
            raise VideoError(400, exc.code, exc.message) from exc
        token = await self.store.create(session, self.settings.token_hours)
        async with self._lock:
            self.sessions[session.id] = session
            if address:
                self.addresses[session.id] = address
            if mode == "sign":
                self.pool.add_session(session.id)
            await self._after(session, "started")
        return session, token

    async def _admit(self, address: str, now: float) -> None:
        live = sum(1 for sid, where in self.addresses.items()
                   if where == address and sid in self.sessions and not self.sessions[sid].ended)
        why = self.start_limits.refusal(live, 0)
        if why is None:
            why = self.start_limits.refusal(0, await self.store.count_start(address, now) - 1)
        if why == "live":
            raise VideoError(429, "too_many_sessions", "a video session from this address is already going; "
                             "end it before starting another", {"retry_after": 60})
        if why == "hourly":
            raise VideoError(429, "too_many_sessions", "too many video sessions started from this address this "
                             "hour; try again later", {"retry_after": 3600 - int(now) % 3600})

    async def session_for_token(self, token: str) -> VideoSession:
        session_id = await self.store.session_for_token(token)
        if session_id is None:
            raise VideoError(401, "bad_token", "unknown or expired session token")
        return await self.get(session_id)

    async def get(self, session_id: str) -> VideoSession:
        session = self.sessions.get(session_id) or await self.store.get(session_id)
        if session is None:
            raise VideoError(404, "no_session", "no such video session")
        return session

    def waiting_info(self, session: VideoSession) -> dict[str, Any]:
        """Position and estimated wait for the resident's page."""
        if session.state == "waiting_interpreter":
            position = self.pool.position(session.id) or 1
            on_duty = self.pool.on_duty()
            # Offers go to the earliest waiting sessions: an interpreter with an offer out is about to serve
            # one of them, so counts as free (an offered interpreter is not in available()).
            free = len(self.pool.available()) + len(self.pool.offers)
            ahead = max(0, position - free)
            # Nobody on duty: any figure would be made up (None: the page says all are busy).
            estimate = round(ahead * self.settings.average_minutes * 60 / on_duty) if on_duty else None
            return {"position": position, "estimated_wait": estimate, "waiting_for": "interpreter",
                    "offered": session.id in self.pool.offers}
        if session.needs_operator() or session.state == "waiting_operator":
            found = self.queue_wait(placeholder_uniqueid(session.id)) if self.queue_wait else None
            if found is not None:
                position, queue_wait = found
                return {"position": position, "estimated_wait": None if queue_wait is None else round(queue_wait),
                        "waiting_for": "operator"}
            return {"position": None, "estimated_wait": None, "waiting_for": "operator"}
        return {}

    def describe(self, session: VideoSession, staff: bool = False) -> dict[str, Any]:
        data = session.public(staff) | {"waiting": self.waiting_info(session)}
        if staff:
            data |= {"interpreter": session.interpreter, "operator": session.operator,
                     "assigned_operator": self.assigned_operator.get(session.id),
                     "connected": sorted(role for (sid, role) in self.hub.participants if sid == session.id)}
        return data

    # -- interpreters ----------------------------------------------------------------------------------------

    async def interpreter_status(self, username: str, status: str, reason: str = "") -> dict[str, Any]:
        async with self._lock:
            try:
                person = self.pool.set_status(username, status, self.clock(), reason)
            except ValueError as exc:
                raise VideoError(409, "bad_status", str(exc)) from exc
            self._wake.set()
        self.notify({"type": "video_interpreter", "username": username, "status": person.status,
                     "reason": person.reason})
        return {"username": username, "status": person.status, "reason": person.reason}

    async def accept(self, session_id: str, username: str) -> VideoSession:
        async with self._lock:
            session = await self.get(session_id)
            try:
                self.pool.accept(session_id, username)
            except LookupError as exc:
                raise VideoError(409, "not_offered", str(exc)) from exc
            try:
                session.interpreter_joins(username, self.clock())
            except InvalidTransition as exc:
                self.pool.release(username, self.clock())
                raise VideoError(409, exc.code, exc.message) from exc
            await self._after(session, "interpreter_accepted")
            return session

    async def decline(self, session_id: str, username: str) -> None:
        async with self._lock:
            session = await self.get(session_id)
            try:
                self.pool.decline(session_id, username)
            except LookupError as exc:
                raise VideoError(409, "not_offered", str(exc)) from exc
            session.decline(username, self.clock())
            await self._after(session, "interpreter_declined")

    async def request_operator(self, session_id: str, username: str) -> VideoSession:
        async with self._lock:
            session = await self.get(session_id)
            if session.interpreter != username:
                raise VideoError(403, "not_yours", "only the session's interpreter can ask for an operator")
            with out_of_order():
                session.request_operator(self.clock())
            await self._after(session, "operator_requested")
            return session

    # -- operators -------------------------------------------------------------------------------------------

    async def operator_join(self, session_id: str, username: str) -> VideoSession:
        """An operator takes the session: the one app_queue gave it to, or anyone from the video panel."""
        async with self._lock:
            session = await self.get(session_id)
            with out_of_order():
                session.operator_joins(username, self.clock())
            if self.assigned_operator.get(session_id) != username:
                # Taken from the panel: the placeholder (waiting, or ringing someone else) is no longer needed.
                # The operator app_queue chose keeps it: their phone stays busy for the video.
                await self._hang_up_placeholder(session_id)
            await self._after(session, "operator_joined")
            return session

    def placeholder_connected(self, session_id: str, interface: str) -> None:
        """The PBX link's news, handed over without waiting: the link's reader must not wait on the store."""
        self._spawn(self._assign_quietly(session_id, interface))

    async def _assign_quietly(self, session_id: str, interface: str) -> None:
        try:
            await self.operator_connected(session_id, interface)
        except RedisError as exc:
            # The operator's phone is connected; they can still take the session from the video panel.
            log.warning("video operator not assigned", extra={"session": session_id, "error": str(exc)})

    async def operator_connected(self, session_id: str, interface: str) -> None:
        """app_queue connected an operator's phone to the session's placeholder."""
        username = await self.interface_user(interface) if self.interface_user else None
        async with self._lock:
            session = self.sessions.get(session_id)
            if session is None or session.ended:
                await self._hang_up_placeholder(session_id)
                return
            if username is None:
                await self._requeue(session, interface)
                return
            if self.assigned_operator.get(session_id) == username:
                return
            self.assigned_operator[session_id] = username
        self.notify({"type": "video_assigned", "session": session_id, "for_user": username,
                     "interface": interface})

    # -- media and chat ----------------------------------------------------------------------------------------

    def connect_pusher(self, session_id: str, role: str, push: Push) -> None:
        self._pushers[(session_id, role)] = push

    def disconnect_pusher(self, session_id: str, role: str, push: Push) -> None:
        if self._pushers.get((session_id, role)) is push:
            del self._pushers[(session_id, role)]
            self._schedule_drop(session_id, role)

    def role_of(self, session: VideoSession, username: str, staff_role: str) -> str:
        if staff_role == "interpreter" and session.interpreter == username:
            return "interpreter"
        if staff_role in ("operator", "supervisor") and session.operator == username:
            return "operator"
        raise VideoError(403, "not_in_session", "you have not joined this session")

    async def offer(self, session_id: str, role: str, sdp: Any) -> str:
        session = await self.get(session_id)
        if session.ended:
            raise VideoError(409, "session_ended", "the session has ended")
        self._cancel_drop(session_id, role)
        try:
            answer = await self.hub.negotiate(session, role, sdp)
        except MediaError as exc:
            raise VideoError(400, exc.code, exc.message) from exc
        await self._push(session_id, role, {"type": "chat_history", "messages": await self.store.chat(session_id)})
        self._text_reconnected(session_id, role)
        return answer

    async def candidate(self, session_id: str, role: str, candidate: Any) -> None:
        if not isinstance(candidate, dict):
            raise VideoError(400, "bad_candidate", "candidate must be an object")
        try:
            await self.hub.add_candidate(session_id, role, candidate)
        except MediaError as exc:
            raise VideoError(400 if exc.code != "no_connection" else 409, exc.code, exc.message) from exc

    async def chat(self, session_id: str, role: str, text: Any) -> dict[str, Any]:
        if not isinstance(text, str) or not text.strip():
            raise VideoError(400, "bad_chat", "a chat message is non-empty text")
        if len(text) > MAX_CHAT_CHARS:
            raise VideoError(400, "chat_too_long", f"a chat message has at most {MAX_CHAT_CHARS} characters")
        session = await self.get(session_id)
        if session.ended:
            raise VideoError(409, "session_ended", "the session has ended")
        now = self.clock()
        if not self._chat_buckets.setdefault((session_id, role), TokenBucket()).take(now):
            raise VideoError(429, "chat_too_fast", "too many messages at once; wait a moment")
        entry = await self.store.add_chat(session_id, role, text.strip(), now, MAX_CHAT_LINES)
        if entry is None:
            raise VideoError(409, "chat_full", f"this session's chat holds {MAX_CHAT_LINES} messages already")
        self._end_line(session_id, role)
        for other in ("resident", "interpreter", "operator"):
            if other == role:
                continue
            # The data channel when the media connection is up; the signalling socket as the fallback.
            if not self.hub.send_chat(session_id, other, json.dumps(entry, ensure_ascii=False)):
                await self._push(session_id, other, {"type": "chat", **entry})
        return entry

    def _chat_from_media(self, session_id: str, role: str, text: str) -> None:
        self._spawn(self._chat_quietly(session_id, role, text))

    async def _chat_quietly(self, session_id: str, role: str, text: str) -> None:
        try:
            await self.chat(session_id, role, text)
        except VideoError as exc:
            log.info("video chat refused", extra={"error": exc.code})
            # The page showed the line as sent: tell it why it was not.
            await self._push(session_id, role, {"type": "error", "error": exc.code, "message": exc.message})

    # -- real-time text --------------------------------------------------------------------------------------

    def text(self, session_id: str, role: str, t140: Any) -> None:
        """T.140 text typed by `role`: their line changes now, the others see it within the throttle."""
        if not isinstance(t140, str):
            raise VideoError(400, "bad_text", "real-time text is a string of T.140 text")
        if len(t140) > MAX_TEXT_MESSAGE:
            raise VideoError(400, "text_too_long", f"one real-time text message has at most {MAX_TEXT_MESSAGE} "
                             "characters")
        session = self.sessions.get(session_id)
        if session is None or session.ended:
            raise VideoError(409, "session_ended", "the session has ended")
        bucket = self._text_buckets.setdefault((session_id, role), TokenBucket(BURST, PER_SECOND))
        if not bucket.take(time.monotonic()):
            raise VideoError(429, "text_too_fast", "real-time text is sent faster than anyone types")
        self._lines.setdefault((session_id, role), Line()).apply(t140)
        self._text_soon(session_id, role)

    def _text_from_media(self, session_id: str, role: str, t140: str) -> None:
        try:
            self.text(session_id, role, t140)
        except VideoError as exc:
            log.info("video real-time text refused", extra={"error": exc.code})

    def _end_line(self, session_id: str, role: str) -> None:
        """A finished line went out as chat: the others' in-progress view of it ends."""
        line = self._lines.get((session_id, role))
        if line is not None and line.text:
            line.end()
            self._text_soon(session_id, role)

    def _text_soon(self, session_id: str, role: str) -> None:
        key = (session_id, role)
        if key in self._text_due:
            return  # a send is due already and will carry this change too
        delay = self._text_throttles.setdefault(key, Throttle()).delay(time.monotonic())
        self._text_due[key] = asyncio.get_running_loop().call_later(
            delay, lambda: self._spawn(self._send_text(session_id, role)))

    async def _send_text(self, session_id: str, role: str) -> None:
        key = (session_id, role)
        self._text_due.pop(key, None)
        line = self._lines.get(key)
        if line is None:
            return
        self._text_throttles[key].sent(time.monotonic())
        for other in ("resident", "interpreter", "operator"):
            if other == role or ((session_id, other) not in self._pushers
                                 and self.hub.participant(session_id, other) is None):
                continue
            t140 = self._shown.setdefault((session_id, role, other), Shown()).catch_up(line)
            if t140 and not self.hub.send_text(session_id, other, role, t140):
                await self._push(session_id, other, {"type": "text", "from": role, "t140": t140})

    def _forget_text(self, session_id: str) -> None:
        """Drop an ended session's typing state and its participants' chat and text allowances."""
        for key in [key for key in self._text_due if key[0] == session_id]:
            self._text_due.pop(key).cancel()
        for store in (self._lines, self._text_throttles, self._text_buckets, self._chat_buckets):
            for key in [key for key in store if key[0] == session_id]:
                del store[key]
        for shown in [key for key in self._shown if key[0] == session_id]:
            del self._shown[shown]

    def _text_reconnected(self, session_id: str, role: str) -> None:
        """A participant's page (re)connected with nothing shown: it gets the others' lines afresh."""
        for source in ("resident", "interpreter", "operator"):
            if self._shown.pop((session_id, source, role), None) is not None or \
                    self._lines.get((session_id, source), Line()).text:
                self._text_soon(session_id, source)

    def _media_state(self, session_id: str, role: str, participant: Participant, state: str) -> None:
        if state in ("failed", "closed"):
            self._schedule_drop(session_id, role)
        elif state == "connected":
            self._cancel_drop(session_id, role)

    # -- leaving, dropping, ending ---------------------------------------------------------------------------

    def _schedule_drop(self, session_id: str, role: str) -> None:
        """A participant who dropped may come back within the grace period; after it, they have left."""
        session = self.sessions.get(session_id)
        if session is None or session.ended or (session_id, role) in self._drops:
            return
        loop = asyncio.get_running_loop()
        self._drops[(session_id, role)] = loop.call_later(
            self.settings.grace_seconds, lambda: self._spawn(self.leave(session_id, role, "dropped")))

    def _cancel_drop(self, session_id: str, role: str) -> None:
        handle = self._drops.pop((session_id, role), None)
        if handle is not None:
            handle.cancel()

    async def leave(self, session_id: str, role: str, reason: str = "left") -> None:
        self._cancel_drop(session_id, role)
        async with self._lock:
            session = await self.get(session_id)
            if session.ended:
                return
            staff = session.interpreter if role == "interpreter" else session.operator
            session.participant_left(role, self.clock())
            await self.hub.drop(session_id, role)
            if role == "interpreter" and staff:
                self.pool.release(staff, self.clock())
                if session.state == "waiting_interpreter":
                    self.pool.add_session(session_id)
            if role == "operator":
                self.assigned_operator.pop(session_id, None)
                await self._hang_up_placeholder(session_id)
            await self._after(session, f"{role}_{reason}")

    async def end(self, session_id: str, reason: str) -> VideoSession:
        async with self._lock:
            session = await self.get(session_id)
            if not session.ended:
                session.end(reason, self.clock())
                await self._after(session, "ended")
            return session

    # -- the loop that expires offers and hands out sessions ---------------------------------------------------

    async def run(self) -> None:
        try:
            await self._restore()
        except Exception as exc:
            stop_if_cancelled()
            log.warning("video sessions left from before a restart not settled", extra={"error": str(exc)})
        expired_at = 0.0
        while True:
            stop_if_cancelled()
            if self.settings.recordings and time.monotonic() - expired_at > RETENTION_SWEEP_SECONDS:
                expired_at = time.monotonic()
                await asyncio.to_thread(remove_expired, Path(self.settings.recordings), self.settings.retention_days)
            deadline = self.pool.next_deadline()
            timeout = RETENTION_SWEEP_SECONDS if deadline is None else \
                min(RETENTION_SWEEP_SECONDS, max(0.0, timebase.real_seconds(deadline - self.clock())))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            try:
                async with self._lock:
                    await self._dispatch()
            except Exception:
                stop_if_cancelled()
                log.exception("video dispatch failed")

    async def _restore(self) -> None:
        """After a restart the media is gone: sessions that were live are ended, so none hangs forever."""
        for session in await self.store.active():
            if session.id not in self.sessions:
                session.end("service_restarted", self.clock())
                await self.store.save(session)

    async def _dispatch(self) -> None:
        now = self.clock()
        expired = self.pool.expire(now)
        for offer in expired:
            session = self.sessions.get(offer.session)
            if session is not None:
                session.decline(offer.username, now)
                await self.store.save(session)
            self.notify({"type": "video_offer_expired", "session": offer.session, "for_user": offer.username})
            self.notify({"type": "video_interpreter", "username": offer.username, "status": "paused",
                         "reason": "no answer"})
        made = self.pool.assign(now)
        for offer in made:
            self._offer_out(offer)
        if made or expired:
            await self._tell_waiting()

    async def _tell_waiting(self) -> None:
        """Offers made or lapsed change every waiting resident's estimate: their pages hear it now."""
        for session in list(self.sessions.values()):
            if session.state == "waiting_interpreter":
                await self._push(session.id, "resident", {"type": "state", "event": "waiting",
                                                          "session": self.describe(session)})

    def _offer_out(self, offer: Offer) -> None:
        session = self.sessions.get(offer.session)
        self.notify({"type": "video_offer", "session": offer.session, "for_user": offer.username,
                     "deadline": offer.deadline, "mode": session.mode if session else "sign"})

    async def _after(self, session: VideoSession, event: str) -> None:
        """Save, re-route the media, seek an operator if one is needed, tell everyone. Holds the lock."""
        await self.store.save(session)
        if session.ended:
            self.pool.remove_session(session.id)
            if session.interpreter:
                self.pool.release(session.interpreter, self.clock())
            await self._hang_up_placeholder(session.id)
            await self.hub.close_session(session.id)
            self.sessions.pop(session.id, None)
            self.addresses.pop(session.id, None)
            self._forget_text(session.id)
            self.assigned_operator.pop(session.id, None)
            self._requeued.pop(session.id, None)
            for key in [key for key in self._drops if key[0] == session.id]:
                self._cancel_drop(*key)
        else:
            self.hub.apply(session)
            if session.mode == "sign" and session.state == "with_interpreter" \
                    and self.settings.operator_with_interpreter and not session.operator_requested:
                session.request_operator(self.clock())
                await self.store.save(session)
            if session.needs_operator():
                await self._seek_operator(session)
        self._wake.set()
        change = {"type": "video_session", "event": event, "session": self.describe(session, staff=True)}
        self.notify(change)
        for role in ("resident", "interpreter", "operator"):
            await self._push(session.id, role, {"type": "state", "event": event,
                                                "session": self.describe(session, staff=role != "resident")})

    async def _requeue(self, session: VideoSession, interface: str) -> None:
        """app_queue gave the session to a phone with no dashboard account, so nobody would see it: the session
        goes back to the front of the queue for the next operator (a few times; then the panel is left)."""
        tries = self._requeued.get(session.id, 0)
        log.warning("a phone without a dashboard account was given a video session", extra={
            "session": session.id, "interface": interface, "requeued": tries < MAX_REQUEUES})
        await self._hang_up_placeholder(session.id)
        if tries < MAX_REQUEUES:
            self._requeued[session.id] = tries + 1
            await self._seek_operator(session, position=1)

    async def _seek_operator(self, session: VideoSession, position: int = 0) -> None:
        if self.pbx is None or session.id in self.placeholders:
            return
        uniqueid = placeholder_uniqueid(session.id)
        headers = [("Channel", f"Local/{session.id}@video-placeholder"), ("Context", "video-operator"),
                   ("Exten", "s"), ("Priority", "1"), ("Timeout", str(12 * 3600_000)),
                   ("CallerID", f'"VIDEO {session.id}" <video>'), ("ChannelId", operator_half_uniqueid(session.id)),
                   ("OtherChannelId", uniqueid), ("ActionID", f"{uniqueid}-originate"), ("Async", "true"),
                   ("Variable", f"__CC_VIDEO_SESSION={session.id}")]
        if position:
            headers.append(("Variable", f"CC_POSITION={position}"))
        try:
            await self.pbx.originate(headers)
            self.placeholders.add(session.id)
        except Exception as exc:
            stop_if_cancelled()
            log.warning("video placeholder not placed; operators can take it from the panel",
                        extra={"error": str(exc)})

    async def _hang_up_placeholder(self, session_id: str) -> None:
        if self.pbx is None or session_id not in self.placeholders:
            return
        self.placeholders.discard(session_id)
        try:
            await self.pbx.hangup(placeholder_uniqueid(session_id))
        except Exception as exc:
            stop_if_cancelled()
            log.warning("video placeholder hang-up failed", extra={"error": str(exc)})

    async def _push(self, session_id: str, role: str, message: dict[str, Any]) -> None:
        push = self._pushers.get((session_id, role))
        if push is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await push(message)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for handle in self._drops.values():
            handle.cancel()
        self._drops.clear()
        await self.hub.close()
