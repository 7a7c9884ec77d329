"""Group the reports joined by edges: connected components or average linkage.

``connected`` is upstream's single linkage: two reports share a group when a path of
edges joins them, so a street of reports each 40 m from the next becomes one group.
``average`` is average linkage over the edge graph (see :mod:`cleanapp_geo.model`): a
report joins a group only when its edges to the group's members are, on average over
*all* of them, strong enough. Both only ever group reports that a path of edges joins.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from cleanapp_geo.errors import InvalidModelError

__all__ = ["SCORE_RESOLUTION", "group_labels"]

#: Edge scores are rounded to multiples of ``1 / SCORE_RESOLUTION`` before average
#: linkage sums them, so that sums are exact integers and the groups do not depend on
#: the order in which they are added.
SCORE_RESOLUTION: Final = 2**30


def group_labels(
    n: int,
    edge_i: np.ndarray,
    edge_j: np.ndarray,
    edge_score: np.ndarray,
    keys: np.ndarray,
    *,
    grouping: str = "connected",
    min_mean_score: float | None = None,
) -> np.ndarray:
    """Group ``n`` reports joined by scored edges.

    Parameters
    ----------
    n : int
        Number of reports.
    edge_i, edge_j : numpy.ndarray
        Positional endpoints of the edges (each unordered pair at most once).
    edge_score : numpy.ndarray
        Score of each edge, in [0, 1].
    keys : numpy.ndarray
        Distinct int64 keys of the reports (their seqs); ties between equally good
        merges go to the groups with the smallest keys.
    grouping : {"connected", "average"}
        Connected components, or average linkage.
    min_mean_score : float, optional
        With ``average``: two groups merge while the mean over all pairs across them of
        the edge score (0 for a pair without an edge) is at least this. Required then.

    Returns
    -------
    numpy.ndarray
        int64 group number of every report, in ``0 .. n_groups - 1`` (the numbering
        carries no meaning).

    Raises
    ------
    InvalidModelError
        When ``grouping`` is unknown or ``min_mean_score`` is missing or not in (0, 1].

    Examples
    --------
    A chain 1–2–3 of equally strong edges: connected components join all three, average
    linkage keeps the third report apart (its mean score to the pair is 0.45 < 0.6).

    >>> import numpy as np
    >>> i, j, score = np.array([0, 1]), np.array([1, 2]), np.array([0.9, 0.9])
    >>> keys = np.array([1, 2, 3])
    >>> group_labels(3, i, j, score, keys).tolist()
    [0, 0, 0]
    >>> group_labels(3, i, j, score, keys, grouping="average", min_mean_score=0.6).tolist()
    [0, 0, 1]
    """
    edge_i = np.asarray(edge_i, dtype=np.int64)
    edge_j = np.asarray(edge_j, dtype=np.int64)
    if grouping == "connected":
        graph = sp.csr_array((np.ones(len(edge_i), dtype=np.int8), (edge_i, edge_j)), shape=(n, n))
        return np.asarray(connected_components(graph, directed=False)[1], dtype=np.int64)
    if grouping != "average":
        raise InvalidModelError(f"grouping must be 'connected' or 'average', got {grouping!r}")
    if min_mean_score is None or not 0 < min_mean_score <= 1:
        raise InvalidModelError(
            f"average linkage needs min_mean_score in (0, 1], got {min_mean_score!r}"
        )
    from cleanapp_geo import _linkage_accel

    groups = np.arange(n, dtype=np.int64)
    if len(edge_i):
        # Only reports with an edge take part; others stay single.
        nodes, local = np.unique(np.concatenate((edge_i, edge_j)), return_inverse=True)
        weight = np.floor(np.asarray(edge_score, dtype=np.float64) * SCORE_RESOLUTION + 0.5)
        cut = max(1, int(np.floor(min_mean_score * SCORE_RESOLUTION)))
        local_groups = _linkage_accel.average_linkage(
            len(nodes),
            local[: len(edge_i)],
            local[len(edge_i) :],
            weight.astype(np.int64),
            np.asarray(keys, dtype=np.int64)[nodes],
            cut,
        )
        groups[nodes] = nodes[local_groups]
    return np.unique(groups, return_inverse=True)[1].astype(np.int64)
