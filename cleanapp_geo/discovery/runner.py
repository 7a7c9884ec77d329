"""Running discovery providers within one budget and merging what they find."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from cleanapp_geo.discovery.budget import Budget
from cleanapp_geo.discovery.fetch import FetchStats
from cleanapp_geo.targets.merge import visible_targets
from cleanapp_geo.targets.suggest import ContactDiscoveryProvider, DiscoveryRequest
from cleanapp_geo.targets.target import EscalationTarget, normalize_target

__all__ = ["DiscoveryResult", "ProviderReport", "discover_contacts"]


@dataclass(frozen=True, slots=True)
class ProviderReport:
    """What one provider did in a run.

    Parameters
    ----------
    provider : str
        Its name.
    requests, cache_hits, robots_disallowed, fetch_errors : int
        Network requests sent, answers taken from the cache, pages robots.txt kept us from,
        failed requests (refused, timed out, 4xx/5xx, blocked address).
    seconds : float
        Wall-clock time it took.
    hits : int
        Targets it returned that have a usable contact (after normalisation).
    error : str
        The exception it raised, if any (``""``); its targets are then lost.
    skipped : bool
        The budget was used up before its turn.
    """

    provider: str
    requests: int = 0
    cache_hits: int = 0
    robots_disallowed: int = 0
    fetch_errors: int = 0
    seconds: float = 0.0
    hits: int = 0
    error: str = ""
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    """The merged targets of a run and how it went.

    ``targets`` are the request's existing targets and the discovered ones, merged and
    filtered for visibility (§6.5), at most ``request.limit``; ``discovered`` are the
    providers' raw findings (for storage as evidence).
    """

    targets: tuple[EscalationTarget, ...]
    discovered: tuple[EscalationTarget, ...]
    reports: tuple[ProviderReport, ...]
    requests: int
    seconds: float
    budget_exhausted: bool


def _delta(after: FetchStats, before: FetchStats) -> FetchStats:
    return FetchStats(
        after.requests - before.requests,
        after.cache_hits - before.cache_hits,
        after.robots_disallowed - before.robots_disallowed,
        after.errors - before.errors,
    )


def discover_contacts(
    request: DiscoveryRequest,
    providers: Sequence[ContactDiscoveryProvider],
    *,
    budget: Budget | None = None,
) -> DiscoveryResult:
    """Run providers in order within one budget; return merged, visible targets and a report.

    Each provider sees the targets known so far in ``request.existing`` (the website
    provider crawls the sites OpenStreetMap named; the authority directory crawls the
    municipality's site). A provider with a ``fetcher`` attribute has it charged to
    ``budget``; once the budget is spent the remaining providers are skipped. Nothing is
    raised: a provider's exception is recorded in its report (its targets are lost), and
    network errors inside providers only shorten their answers.

    Parameters
    ----------
    request : DiscoveryRequest
        What to look for.
    providers : sequence of ContactDiscoveryProvider
        In the order they run (e.g. OpenStreetMap, authority directory, website).
    budget : Budget, optional
        Requests and seconds for the whole run (default: 20 requests, ``request.budget_s``).

    Returns
    -------
    DiscoveryResult
        Targets (merged with the existing ones, visibility-filtered, at most
        ``request.limit``), the raw discoveries, and a report per provider.

    Examples
    --------
    >>> class Listed:
    ...     name = "listed"
    ...     def discover(self, request):
    ...         return [EscalationTarget(email="bau@adliswil.ch", target_source="listed",
    ...                                  confidence_score=0.8)]
    >>> result = discover_contacts(DiscoveryRequest(), [Listed()])
    >>> [t.email for t in result.targets], result.reports[0].hits
    (['bau@adliswil.ch'], 1)
    """
    budget = budget or Budget(max_seconds=request.budget_s)
    known: list[EscalationTarget] = list(request.existing)
    found: list[EscalationTarget] = []
    reports: list[ProviderReport] = []
    for provider in providers:
        name = str(getattr(provider, "name", type(provider).__name__))
        if budget.exhausted:
            reports.append(ProviderReport(name, skipped=True))
            continue
        fetcher = getattr(provider, "fetcher", None)
        before = FetchStats()
        if fetcher is not None:
            fetcher.budget = budget
            before = fetcher.stats.copy()
        started = time.monotonic()
        error = ""
        targets: list[EscalationTarget] = []
        try:
            asked = replace(request, existing=tuple(known), budget_s=budget.remaining_s())
            targets = list(provider.discover(asked))
        except Exception as exc:  # a provider's bug must not cost the others their turn
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - started
        stats = _delta(fetcher.stats, before) if fetcher is not None else FetchStats()
        reports.append(
            ProviderReport(
                name,
                requests=stats.requests,
                cache_hits=stats.cache_hits,
                robots_disallowed=stats.robots_disallowed,
                fetch_errors=stats.errors,
                seconds=round(seconds, 3),
                hits=sum(normalize_target(t) is not None for t in targets),
                error=error,
            )
        )
        known += targets
        found += targets
    return DiscoveryResult(
        targets=visible_targets([*request.existing, *found], limit=request.limit),
        discovered=tuple(found),
        reports=tuple(reports),
        requests=budget.requests_used,
        seconds=round(budget.elapsed_s(), 3),
        budget_exhausted=budget.exhausted,
    )
