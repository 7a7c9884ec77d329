"""What the partition results weigh, told to Dask's memory manager.

Dask measures what a worker holds with :func:`dask.sizeof.sizeof`, which knows arrays,
frames and Arrow tables but sizes any other object with :func:`sys.getsizeof`: a few
dozen bytes for a :class:`~cleanapp_geo.distributed.cells.CellResult` holding a million
reports' hypotheses and edges. Held results then count as *unmanaged* memory, which a
worker can neither spill to disk nor pause for, so a 10M-report run grew past 5 GiB per
worker. Registering the real sizes makes the results spillable like any frame.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any

from dask.sizeof import sizeof

from cleanapp_geo.distributed import cells, halo, ordering

__all__ = ["deep_size"]


def deep_size(value: Any) -> int:
    """Bytes held by ``value``: a dataclass's fields summed, anything else by Dask.

    Parameters
    ----------
    value : object
        A partition result (or one of its parts).

    Returns
    -------
    int
    """
    if isinstance(value, ordering.OrderedTable):
        return value.nbytes
    if is_dataclass(value) and not isinstance(value, type):
        return sum(deep_size(getattr(value, field.name)) for field in fields(value))
    return int(sizeof(value))


for _cls in (
    ordering.OrderedTable,
    cells.Survey,
    cells.PreparedPartition,
    cells.BorderPiece,
    cells.CellResult,
    halo.Footprint,
):
    sizeof.register(_cls)(deep_size)  # type: ignore[no-untyped-call]
