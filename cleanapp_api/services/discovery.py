"""Contact discovery for the service: providers from the settings, a hard deadline.

:class:`CaseDiscovery` is made once per service process (it holds the response cache shared
by every run, so a second case at the same place costs no request, and a small worker
pool). :meth:`CaseDiscovery.run` runs :func:`cleanapp_geo.discovery.discover_contacts` --
OpenStreetMap (``NOMINATIM_URL``, ``OVERPASS_URL``), the authority directory (the rules it
is given: the ``authority_directory_rules`` table, or the bundled Appendix C rules) and the
website crawler -- within ``DISCOVERY_BUDGET_S`` and ``DISCOVERY_MAX_REQUESTS``, in a worker
thread, and waits for it at most the budget plus :data:`GRACE_S`: a request that refreshes
targets is never held longer, whatever the network does (a DNS lookup the socket timeouts
cannot bound, a saturated pool). It returns ``None`` when discovery is disabled
(``DISCOVERY_ENABLED``, off by default) or did not finish in time, and never raises.

:func:`discover_case_targets` is the refresh of a stored case (``refresh_targets``, upstream
§6.4): it reads the case's visible reports, its targets and the authority directory in one
short read, then discovers *outside* any transaction (no lock is held while the network
answers), and returns the visible discovered targets for
:func:`cleanapp_api.services.routing.refresh_case_targets` to add and route.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from typing import Any, Final

import sqlalchemy as sa

import cleanapp_geo.io as cio
from cleanapp_api.db import tables as t
from cleanapp_api.db.repositories import routing as store
from cleanapp_api.settings import Settings
from cleanapp_geo.discovery import (
    AuthorityDirectoryProvider,
    AuthorityRule,
    Budget,
    DiscoveryRequest,
    DiscoveryResult,
    Fetcher,
    MemoryCache,
    OpenStreetMapProvider,
    ResponseCache,
    WebsiteContactProvider,
    case_discovery_request,
    discover_contacts,
    load_authority_rules,
    osm_fetch_settings,
)
from cleanapp_geo.targets import EscalationTarget, visible_targets

__all__ = ["GRACE_S", "REFRESH_LIMIT", "CaseDiscovery", "discover_case_targets"]

log = logging.getLogger(__name__)

#: Seconds a caller waits beyond the budget before giving up on a run.
GRACE_S: Final = 0.5
#: Targets a refresh asks discovery for (upstream's refresh limit).
REFRESH_LIMIT: Final = 16


class CaseDiscovery:
    """Discovery runs of one service process.

    Parameters
    ----------
    settings : Settings
        ``discovery_enabled``, ``nominatim_url``, ``overpass_url``, ``discovery_budget_s``,
        ``discovery_max_requests``, ``discovery_user_agent``.
    cache : ResponseCache, optional
        Shared by every run (default: a :class:`~cleanapp_geo.discovery.MemoryCache`).
    fetch_overrides : mapping, optional
        Extra :class:`~cleanapp_geo.discovery.FetchSettings` fields (tests: ``resolve``
        and ``allow_private_networks`` for local fixture servers).
    workers : int, default 2
        Concurrent runs.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        cache: ResponseCache | None = None,
        fetch_overrides: Mapping[str, Any] | None = None,
        workers: int = 2,
    ) -> None:
        self.settings = settings
        self.cache: ResponseCache = cache if cache is not None else MemoryCache()
        self._overrides = dict(fetch_overrides or {})
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None  # made on the first run

    @property
    def enabled(self) -> bool:
        """Whether discovery runs at all (``DISCOVERY_ENABLED``)."""
        return self.settings.discovery_enabled

    def close(self) -> None:
        """Stop the worker pool (runs in flight end at their deadline; a later run makes one)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _providers(
        self, fetcher: Fetcher, rules: Iterable[AuthorityRule | Mapping[str, Any]]
    ) -> list[Any]:
        osm = OpenStreetMapProvider(
            fetcher,
            nominatim_url=self.settings.nominatim_url,
            overpass_url=self.settings.overpass_url,
        )
        return [
            osm,
            AuthorityDirectoryProvider(rules, fetcher, locate=osm.locate),
            WebsiteContactProvider(fetcher),
        ]

    def run(
        self,
        request: DiscoveryRequest,
        rules: Iterable[AuthorityRule | Mapping[str, Any]] | None = None,
    ) -> DiscoveryResult | None:
        """Discover contacts for a request within the configured budget; never raises.

        Parameters
        ----------
        request : DiscoveryRequest
            E.g. :func:`cleanapp_geo.discovery.case_discovery_request` of a case's reports.
        rules : iterable of AuthorityRule or mapping, optional
            The authority directory (rows of ``authority_directory_rules``); the bundled
            Appendix C rules when omitted.

        Returns
        -------
        DiscoveryResult or None
            ``None`` when disabled or not finished within the budget plus :data:`GRACE_S`.
        """
        if not self.enabled:
            return None
        budget_s = self.settings.discovery_budget_s
        budget = Budget(max_requests=self.settings.discovery_max_requests, max_seconds=budget_s)
        fetcher = Fetcher(
            osm_fetch_settings(
                self.settings.nominatim_url,
                user_agent=self.settings.discovery_user_agent,
                **self._overrides,
            ),
            budget=budget,
            cache=self.cache,
        )
        directory = tuple(rules) if rules is not None else load_authority_rules()
        asked = replace(request, budget_s=budget_s)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="discovery")
        future = self._pool.submit(
            discover_contacts, asked, self._providers(fetcher, directory), budget=budget
        )
        try:
            return future.result(timeout=budget_s + GRACE_S)
        except FutureTimeout:
            future.cancel()  # still queued behind other runs: never start it
            log.warning("contact discovery did not finish within %.1f s", budget_s + GRACE_S)
        except Exception:  # a bug in discovery must not fail the request that refreshes
            log.exception("contact discovery failed")
        return None


def discover_case_targets(
    engine: sa.Engine, case_id: str, discovery: CaseDiscovery | None
) -> tuple[EscalationTarget, ...]:
    """Discover contacts for a stored case; ``()`` when disabled, without reports or in vain.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store (one short read; no transaction is open while discovery runs).
    case_id : str
        The case (an unknown case has no reports: nothing is discovered).
    discovery : CaseDiscovery or None
        The process's discovery (``None``: none).

    Returns
    -------
    tuple of EscalationTarget
        The discovered targets that pass the visibility filter (§6.5), merged by endpoint.
    """
    if discovery is None or not discovery.enabled:
        return ()
    cr = t.case_reports
    with engine.connect() as conn:
        seqs = list(conn.execute(sa.select(cr.c.seq).where(cr.c.case_id == case_id)).scalars())
        if not seqs:
            return ()
        frame = cio.read_reports(conn, seqs=seqs, visible_only=True)
        existing = [
            EscalationTarget.from_record(dict(row)) for row in store.case_target_rows(conn, case_id)
        ]
        rules = [dict(row) for row in store.all_authority_rules(conn)]
    if not len(frame):
        return ()
    request = case_discovery_request(frame, existing=existing, limit=REFRESH_LIMIT)
    result = discovery.run(request, rules)
    if result is None:
        return ()
    for report in result.reports:
        log.info("discovery for %s: %s", case_id, report)
    return visible_targets(result.discovered)
