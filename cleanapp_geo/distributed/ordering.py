"""The global order of hypotheses across partitions: sort keys and a sample sort.

Single-machine hypotheses are ordered by urgency, severity (unknown last) and size, all
descending, then by smallest seq (:func:`cleanapp_geo.hypotheses.group_hypotheses`).
The smallest seq is unique, so the order is total: :func:`order_keys` writes it as one
32-byte key per hypothesis whose byte order is that order. Each partition's table is
already in order; the tables are cut at common *splitters* (keys sampled from every
table) and each range is merged by sorting its keys, so range ``r`` holds exactly the
hypotheses between splitters ``r - 1`` and ``r``, in the single-machine order.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "OrderedTable",
    "merge_ranges",
    "order_keys",
    "sample_keys",
    "split_by",
    "splitters",
]

_KEY: Final = np.dtype("S32")
_SIGN: Final = np.uint64(1 << 63)
_ALL_ONES: Final = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def _float_words(values: np.ndarray) -> np.ndarray:
    """uint64 words ordered as the floats, NaN after everything (``-0.0`` is ``0.0``)."""
    values = np.asarray(values, dtype=np.float64) + 0.0
    bits = values.view(np.uint64)
    words = np.where(bits & _SIGN, ~bits, bits | _SIGN)
    words[np.isnan(values)] = _ALL_ONES
    return words


def _int_words(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).view(np.uint64) ^ _SIGN


def order_keys(table: pa.Table) -> np.ndarray:
    """One ``S32`` key per hypothesis; sorting the keys gives the output order.

    Parameters
    ----------
    table : pyarrow.Table
        Hypotheses as :func:`cleanapp_geo.export.hypotheses_arrow` writes them.

    Returns
    -------
    numpy.ndarray
        ``S32`` keys (big-endian words of -urgency, -severity with unknown last, -size
        and the smallest seq).
    """
    n = table.num_rows
    if n == 0:
        return np.empty(0, dtype=_KEY)
    seqs = table.column("report_seqs").combine_chunks()
    offsets = seqs.offsets.to_numpy()
    members = seqs.values.to_numpy()
    severity = table.column("severity_score").to_numpy().astype(np.float64)
    words = np.column_stack(
        (
            _float_words(-table.column("urgency_score").to_numpy()),
            _float_words(-severity),
            _int_words(-table.column("report_count").to_numpy()),
            _int_words(np.minimum.reduceat(members, offsets[:-1])),
        )
    )
    return np.ascontiguousarray(words.astype(">u8")).view(_KEY).ravel()


@dataclass(frozen=True, slots=True, eq=False)
class OrderedTable:
    """Hypotheses in output order with their keys (computed once, where they are made)."""

    table: pa.Table
    keys: np.ndarray

    @classmethod
    def of(cls, table: pa.Table) -> OrderedTable:
        """Key an ordered table of hypotheses."""
        return cls(table, order_keys(table))

    def __reduce__(self) -> tuple[object, tuple[pa.Buffer, np.ndarray]]:
        # Pickle writes a sliced table's whole buffers (every range of a split would carry
        # its partition's entire table to the merging worker); the IPC stream writes only
        # the rows of the slice. The stream stays an Arrow buffer: pickle protocol 5 (as
        # Dask sends) passes it out of band, without copying it into bytes first.
        return _from_ipc, (_to_ipc(self.table), np.ascontiguousarray(self.keys))

    @property
    def nbytes(self) -> int:
        """Bytes of the rows it holds (its slice of a table, not the whole buffers)."""
        return int(self.table.nbytes) + int(self.keys.nbytes)


def _to_ipc(table: pa.Table) -> pa.Buffer:
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _from_ipc(data: pa.Buffer | bytes, keys: np.ndarray) -> OrderedTable:
    import pyarrow as pa

    return OrderedTable(pa.ipc.open_stream(data).read_all(), keys)


def sample_keys(ordered: OrderedTable, count: int) -> np.ndarray:
    """Up to ``count`` keys spread evenly over the table (for :func:`splitters`)."""
    keys = ordered.keys
    if len(keys) <= count:
        return keys
    return keys[np.linspace(0, len(keys) - 1, count).astype(np.int64)]


def splitters(samples: Sequence[np.ndarray], parts: int) -> np.ndarray:
    """``parts - 1`` keys that cut the sampled keys into ``parts`` ranges of similar size.

    Parameters
    ----------
    samples : sequence of numpy.ndarray
        Keys sampled from each table (:func:`sample_keys`).
    parts : int
        Number of ranges wanted.

    Returns
    -------
    numpy.ndarray
        Sorted distinct ``S32`` keys (fewer when there are few samples).
    """
    pooled = np.sort(
        np.concatenate([np.empty(0, _KEY), *(np.asarray(s, dtype=_KEY) for s in samples)])
    )
    if parts <= 1 or len(pooled) == 0:
        return np.empty(0, dtype=_KEY)
    cuts = pooled[np.linspace(0, len(pooled), parts + 1).astype(np.int64)[1:-1]]
    return np.unique(cuts)


def split_by(ordered: OrderedTable, cuts: np.ndarray) -> list[OrderedTable]:
    """Cut an ordered table into ``len(cuts) + 1`` ranges (range ``r`` below ``cuts[r]``)."""
    keys = ordered.keys
    bounds = np.r_[0, np.searchsorted(keys, cuts, side="left"), len(keys)]
    return [
        OrderedTable(ordered.table.slice(int(a), int(b - a)), keys[a:b])
        for a, b in itertools.pairwise(bounds)
    ]


def merge_ranges(pieces: Sequence[OrderedTable]) -> pa.Table:
    """One range: the pieces of every table, in output order."""
    import pyarrow as pa

    table = pa.concat_tables([p.table for p in pieces]).combine_chunks()
    if table.num_rows == 0:
        return table
    keys = np.concatenate([p.keys for p in pieces])
    order = np.argsort(keys, kind="stable")
    if np.array_equal(order, np.arange(len(order))):
        return table
    return table.take(pa.array(order))
