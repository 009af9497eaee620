"""The rate limiter on a shrunken minute: even starts, stalls caught up, never over the cap."""
from __future__ import annotations

import asyncio
import time

from vlcultura.data.generators.cohere import RateLimiter

WINDOW = 1.0  # one "minute"
LIMIT = 100  # requests per window


def test_stalls_are_caught_up_without_ever_passing_the_cap():
    limiter = RateLimiter(LIMIT, window_s=WINDOW)
    starts: list[float] = []

    async def one(i: int) -> None:
        await limiter.wait()
        starts.append(time.monotonic())
        if i in (15, 120, 121):  # the event loop stalls (a slow commit, a busy CPU)
            time.sleep(0.08)

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(3 * LIMIT)))

    asyncio.run(main())
    starts.sort()
    worst = max(sum(1 for t in starts if s <= t < s + WINDOW) for s in starts)
    assert worst <= limiter.cap == 99
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert min(gaps) >= limiter.interval / 2 * 0.9  # catching up is paced, never a burst
    rate = (len(starts) - 1) / (starts[-1] - starts[0]) * WINDOW
    assert rate >= 0.95 * LIMIT  # sustained despite the stalls
