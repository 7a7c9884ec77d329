"""Partition results travel and weigh what they hold (cleanapp_geo.distributed)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from dask.sizeof import sizeof

import cleanapp_geo as cg
from cleanapp_geo.distributed import cells
from cleanapp_geo.distributed.ordering import OrderedTable, split_by, splitters


@pytest.fixture(scope="module")
def ordered() -> OrderedTable:
    reports = cg.make_reports(3_000, seed=3, mode="hard")
    result = cg.analyze(reports, model=cg.DEFAULT_MODEL, now=pd.Timestamp("2026-04-01", tz="UTC"))
    return OrderedTable.of(result.to_arrow())


def test_a_range_of_a_split_pickles_only_its_rows(ordered: OrderedTable) -> None:
    pieces = split_by(ordered, splitters([ordered.keys], 10))
    assert sum(p.table.num_rows for p in pieces) == ordered.table.num_rows
    whole = len(pickle.dumps(ordered))
    for piece in pieces:
        restored = pickle.loads(pickle.dumps(piece))
        assert restored.table.equals(piece.table)
        np.testing.assert_array_equal(restored.keys, piece.keys)
        # A tenth of the rows travels as about a tenth of the bytes, not the whole table.
        assert len(pickle.dumps(piece)) < 0.3 * whole


def test_a_range_travels_out_of_band_as_dask_sends_it(ordered: OrderedTable) -> None:
    from distributed.protocol import deserialize, serialize

    piece = split_by(ordered, splitters([ordered.keys], 4))[1]
    buffers: list[pickle.PickleBuffer] = []
    inline = pickle.dumps(piece, protocol=5, buffer_callback=buffers.append)
    # The rows' IPC stream is a buffer of its own (not copied into the pickle's bytes).
    assert len(inline) < 0.1 * sum(memoryview(b).nbytes for b in buffers)
    restored = pickle.loads(inline, buffers=buffers)
    assert restored.table.equals(piece.table)
    header, frames = serialize(piece)
    again = deserialize(header, frames)
    assert again.table.equals(piece.table)
    np.testing.assert_array_equal(again.keys, piece.keys)


def test_dask_sizes_partition_results_by_their_contents(ordered: OrderedTable) -> None:
    piece = split_by(ordered, splitters([ordered.keys], 4))[0]
    assert sizeof(ordered) >= ordered.table.nbytes
    assert sizeof(piece) < sizeof(ordered)
    border = cells.BorderPiece(
        reports=cg.make_reports(200, seed=1),
        edge_seqs=np.zeros((1000, 2), dtype=np.int64),
        edge_score=np.zeros(1000),
        edge_reasons=np.zeros(1000, dtype=np.int64),
    )
    assert sizeof(border) >= 1000 * (16 + 8 + 8)
