"""Helpers for long-running asyncio tasks."""

from __future__ import annotations

import asyncio


def stop_if_cancelled() -> None:
    """Call at the top of every pass of a long-running loop that awaits Redis, and in its broad `except`.

    A cancellation that lands inside a redis-py command may be swallowed (measured here: `by_phone` returned
    normally with the task already cancelling) or turned into a ConnectionError; either way the loop would go
    on waiting and never end, and the service's shutdown hung in app cleanup."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
