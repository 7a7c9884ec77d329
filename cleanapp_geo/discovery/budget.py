"""A discovery budget: how many requests and how many seconds a run may spend (pure)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cleanapp_geo.errors import CleanAppGeoError

__all__ = ["Budget", "BudgetExhaustedError", "DiscoveryError"]


class DiscoveryError(CleanAppGeoError):
    """Base class of the errors raised while discovering contacts over the network."""


class BudgetExhaustedError(DiscoveryError):
    """The budget has no request or no time left; nothing was sent."""


@dataclass(slots=True)
class Budget:
    """Requests and wall-clock seconds a discovery run may spend, counted as it goes.

    The clock starts when the budget is made. :meth:`take` is called before every request
    (cache hits are free); it raises :class:`BudgetExhaustedError` when the requests are used
    up or the deadline has passed. :meth:`remaining_s` bounds socket timeouts, so a slow
    server cannot hold a request beyond the deadline.

    Parameters
    ----------
    max_requests : int, default 20
        Network requests allowed (robots.txt and redirects count).
    max_seconds : float, default 5.0
        Wall-clock seconds allowed from creation.
    clock : callable, default time.monotonic
        Seconds source (tests may pass a fake one).

    Examples
    --------
    >>> b = Budget(max_requests=1, max_seconds=60)
    >>> b.take(); b.requests_used, b.requests_left
    (1, 0)
    >>> b.take()
    Traceback (most recent call last):
    ...
    cleanapp_geo.discovery.budget.BudgetExhaustedError: request budget of 1 used up
    """

    max_requests: int = 20
    max_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    requests_used: int = 0
    started_at: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.max_requests < 0 or self.max_seconds < 0:
            raise ValueError(
                f"a budget needs max_requests >= 0 and max_seconds >= 0, got "
                f"{self.max_requests} and {self.max_seconds}"
            )
        if self.started_at < 0:
            self.started_at = self.clock()

    @property
    def requests_left(self) -> int:
        """Requests still allowed."""
        return max(0, self.max_requests - self.requests_used)

    def elapsed_s(self) -> float:
        """Seconds since the budget was made."""
        return self.clock() - self.started_at

    def remaining_s(self) -> float:
        """Seconds left before the deadline (never negative)."""
        return max(0.0, self.max_seconds - self.elapsed_s())

    @property
    def exhausted(self) -> bool:
        """Whether no request or no time is left."""
        return self.requests_left == 0 or self.remaining_s() <= 0.0

    def take(self) -> None:
        """Count one request, or raise when the budget cannot pay for it.

        Raises
        ------
        BudgetExhaustedError
            No request or no time left.
        """
        if self.requests_left == 0:
            raise BudgetExhaustedError(f"request budget of {self.max_requests} used up")
        if self.remaining_s() <= 0.0:
            raise BudgetExhaustedError(f"time budget of {self.max_seconds:g} s used up")
        self.requests_used += 1
