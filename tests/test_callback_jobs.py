"""The callback jobs in RQ on the real store: one durable job per due time, and no second job once the service
has queued it on time."""

from __future__ import annotations

import time
from typing import Any

from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry

from callcenter.callbacks.jobs import QUEUE, RqScheduler


async def test_a_callback_queued_on_time_leaves_no_second_job(redis_url: str, redis: Any) -> None:
    scheduler = RqScheduler(redis_url)
    due = time.time() + 600
    scheduler.schedule_sync("cb0123abcd", due)
    scheduler.schedule_sync("cb0123abcd", due)  # the same due time again: still one job
    registry = ScheduledJobRegistry(QUEUE, connection=scheduler.connection)
    job_id = f"place-cb0123abcd-{int(due)}"
    assert registry.get_job_ids() == [job_id]

    scheduler.enqueue_now("cb0123abcd", due)
    assert scheduler.queue.get_job_ids() == [f"{job_id}-now"]
    assert registry.get_job_ids() == []
    assert not scheduler.connection.exists(Job.key_for(job_id))


async def test_a_job_rq_already_moved_is_left_to_run(redis_url: str, redis: Any) -> None:
    """RQ's scheduler may move the job first: both run, and the second finds the callback taken."""
    scheduler = RqScheduler(redis_url)
    due = time.time() - 1
    scheduler.schedule_sync("cb0123abcd", due)  # already due: queued at once, as RQ's scheduler would
    job_id = f"place-cb0123abcd-{int(due)}"
    assert Job.fetch(job_id, connection=scheduler.connection).get_status() == JobStatus.QUEUED
    scheduler.enqueue_now("cb0123abcd", due)
    assert scheduler.queue.get_job_ids() == [job_id, f"{job_id}-now"]
