"""`callcenter worker`: an RQ worker with the scheduler on, for timed work (callbacks falling due, retries)."""

from __future__ import annotations

import logging
import time

import redis
from rq import Queue, SimpleWorker

from callcenter.config import Settings

log = logging.getLogger(__name__)

QUEUE_NAMES = ("callbacks", "default")  # callbacks first: a resident is waiting


def run_worker(settings: Settings, *, burst: bool = False) -> bool:
    if not settings.redis.url:
        raise SystemExit("worker needs a Redis URL (REDIS_URL or redis.url); `callcenter run` starts an "
                         "embedded server for you")
    delay = 0.5
    while True:
        connection = redis.Redis.from_url(settings.redis.url)
        queues = [Queue(name, connection=connection) for name in QUEUE_NAMES]
        # SimpleWorker runs each job in this process. The forking Worker runs it in a child that outlives a
        # kill -9 of its parent, which would let a "dead" worker still send a dial; it is also 3x slower here.
        worker = SimpleWorker(queues, connection=connection)
        log.info("worker starting", extra={"queues": list(QUEUE_NAMES)})
        try:
            return bool(worker.work(burst=burst, with_scheduler=True,
                                    logging_level=settings.logging.level.upper()))
        except redis.exceptions.ConnectionError as exc:
            # The store restarted or is unreachable: nothing accepted is lost (it is on disk), so wait for it.
            log.warning("worker lost Redis; starting again", extra={"error": str(exc), "retry_in": delay})
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
