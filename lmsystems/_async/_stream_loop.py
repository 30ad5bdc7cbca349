"""The reconnect loop every stream shares: read, count, back off, and let the strategy say where next.

Once the server has answered with a stream's headers, a dropped connection, a truncated event, a stall
(no bytes at all, not even heartbeats, within the read timeout) or a clean close that is not the end is
repaired: the strategy (`_strategies.py`) names the request that rejoins after the last event
delivered, and the loop reconnects with backoff and delivers every event exactly once, in order. It gives
up after `max_reconnects` consecutive failures with a StreamError that says how many events were
delivered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .. import _retry
from .._event_reader import EventReader
from .._exceptions import APIConnectionError, APITimeoutError, StreamError
from .._resume import Resync
from .._transport import attempt_ends
from ._events import iter_events
from ._io import sleep

if TYPE_CHECKING:
    from .._stream_parts import AnyPart
    from ._core import AsyncCore
    from ._strategies import AsyncRunStrategy, AsyncThreadStrategy

logger = logging.getLogger("lmsystems")


async def follow(core: AsyncCore, strategy: AsyncRunStrategy | AsyncThreadStrategy) -> AsyncIterator[AnyPart]:
    """The stream's parts, reconnecting as the strategy says."""
    progress = strategy.progress
    limits = progress.limits
    tracker = progress.tracker
    skip = strategy.skip
    verdicts = strategy.verdicts  # event name -> skipped, for names the strategy decides by name alone
    decode = progress.part
    http = core.http
    deadline = None if limits.deadline is None else time.monotonic() + limits.deadline
    spec = await strategy.open()
    endpoint = await core.endpoint()
    failures = 0
    first = True
    while True:
        try:
            async with http.stream(
                endpoint,
                spec,
                conflict=strategy.conflict,
                timeout=progress.timeout_until(http.timeout, deadline, strategy.silence),
                ends=attempt_ends(http.timeout, time.monotonic(), deadline),
            ) as response:
                if first:
                    first = False
                    progress.note_location(response.headers.get("location"))
                    await strategy.started(response.headers)
                reader = EventReader(
                    f"{spec.method} {spec.path}",
                    now=time.monotonic(),
                    max_event_bytes=limits.max_event_bytes,
                    idle_timeout=limits.idle_timeout,
                    deadline=deadline,
                )
                async for batch in iter_events(response, reader, endpoint, spec):
                    if tracker is None:  # a stateless run: every event is new
                        for event in batch:
                            if skip is not None:
                                unwanted = verdicts.get(event[0])
                                if unwanted is None:
                                    unwanted = skip(event)
                                if unwanted:
                                    continue
                            name, data, event_id, _ = event
                            part = decode(name, data, event_id)
                            progress.events_delivered += 1
                            failures = 0
                            yield part
                        continue
                    feed = tracker.feed  # a resumable run: the tracker says which events are new
                    for event in batch:
                        for ready in feed(event):
                            if skip is not None:
                                unwanted = verdicts.get(ready[0])
                                if unwanted is None:
                                    unwanted = skip(ready)
                                if unwanted:
                                    continue
                            name, data, event_id, _ = ready
                            part = decode(name, data, event_id)
                            progress.events_delivered += 1
                            failures = 0
                            yield part
            step = await strategy.after_close()
            if step.reason is None and step.spec is None:  # the end
                for ready in tracker.end_of_stream() if tracker is not None else ():
                    if skip is not None and skip(ready):
                        continue
                    progress.events_delivered += 1
                    yield decode(ready.event, ready.data, ready.id)
                logger.debug(
                    "the stream of run %s ended: %d events delivered, %d reconnects",
                    progress.run_id,
                    progress.events_delivered,
                    progress.reconnects,
                )
                return
            if step.reason is None:
                assert step.spec is not None
                if step.notice is not None:
                    yield step.notice
                spec = step.spec
                continue
            reason = step.reason
        except Resync:
            # The tracker cannot tell re-sent events from new ones on this connection: read again from an
            # unambiguous point, at once (not a failure: nothing is wrong with the connection).
            logger.debug("re-reading the stream of %s from event %s", strategy.name, progress.last_event_id)
            spec = await strategy.after_resync()
            continue
        except (APIConnectionError, StreamError) as error:
            if isinstance(error, APITimeoutError):
                if error.final:
                    raise
                if strategy.silence is not None:  # the strategy wanted to know when it went silent
                    logger.debug("the rejoin of %s stayed silent: asking the run's status", strategy.name)
                    spec = await strategy.after_silence()
                    continue
            if not strategy.can_resume or (isinstance(error, StreamError) and not error.resumable):
                raise progress.broken(error) from None
            reason = str(error)
        failures += 1
        if failures > limits.max_reconnects:
            raise progress.gave_up(failures, reason)
        delay = _retry.backoff(failures - 1)
        if deadline is not None and time.monotonic() + delay > deadline:
            raise progress.past_deadline()
        logger.info(
            "resuming the stream of %s in %.2fs (attempt %d of %d, after event %s) after: %s",
            strategy.name,
            delay,
            failures,
            limits.max_reconnects,
            progress.last_event_id or "-",
            reason,
        )
        await sleep(delay)
        progress.reconnects += 1
        spec = await strategy.after_failure()
