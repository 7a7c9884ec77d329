"""The local Dask cluster the library starts when it is given none.

Dask's workers sample every running task's Python stack (every 10 ms by default) for the
dashboard's profile page; on an analysis that is about 4% of each worker's CPU, spent on
a page nobody reads in a batch run. A cluster created here has that profiler off. A
user's own cluster or client is never changed: pass it to
:func:`~cleanapp_geo.distributed.analyze` and its configuration holds.
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["WORKER_CONFIG", "local_cluster"]

#: Dask configuration of the workers of :func:`local_cluster` (the profiler off).
WORKER_CONFIG: Final = {"distributed.worker.profile.enabled": False}


def local_cluster(**options: Any) -> Any:
    """Start a ``distributed.LocalCluster`` whose workers do not run Dask's profiler.

    Parameters
    ----------
    **options
        Passed to ``distributed.LocalCluster`` (e.g. ``n_workers``, ``threads_per_worker``,
        ``processes``, ``memory_limit``, ``dashboard_address``).

    Returns
    -------
    distributed.LocalCluster
        Its workers were created with :data:`WORKER_CONFIG` (the dashboard's profile page
        stays empty); close it (or use it as a context manager) when done.

    Examples
    --------
    The workers sample no stacks:

    >>> from distributed import Client
    >>> from cleanapp_geo.distributed.cluster import local_cluster
    >>> with local_cluster(n_workers=1, processes=False, dashboard_address=":0") as cluster:
    ...     with Client(cluster) as client:
    ...         found = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    >>> list(found.values())
    [False]
    """
    import dask
    from distributed import LocalCluster

    # A worker reads this when it is created: a process worker's nanny copies the
    # configuration it is created under, a thread worker sets up its profiler then.
    with dask.config.set(WORKER_CONFIG):
        return LocalCluster(**options)  # type: ignore[no-untyped-call]
