"""Scale out on Dask: country-sized scopes, the same answers as one machine.

``pip install cleanapp-cases[dask]``, then::

    from distributed import Client
    import cleanapp_geo.distributed as cgd

    client = Client()                                  # or a cluster's address
    result = cgd.analyze("reports/*.parquet", model=cg.DEFAULT_MODEL, client=client)
    result.to_parquet("hypotheses/")                   # GeoParquet, one file per part
    result.stats, len(result), result.timings_s

:func:`analyze` equals :func:`cleanapp_geo.analyze` on the same reports (hypotheses,
order, statistics and edges). It needs a model with a radius gate: partitions are
analysed with a halo of the gate's width, which a model without one (``UPSTREAM_MODEL``
links reports anywhere in the scope through shared language) does not have, so such
models are refused with :class:`UnboundedModelError` rather than analysed with the
whole scope as every partition's halo.
"""

from __future__ import annotations

from cleanapp_geo.distributed import sizes as _sizes  # noqa: F401  (registers sizeof)
from cleanapp_geo.distributed.engine import UnboundedModelError, analyze, read_source
from cleanapp_geo.distributed.result import DistributedResult

__all__ = ["DistributedResult", "UnboundedModelError", "analyze", "read_source"]
