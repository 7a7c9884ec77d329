"""``POST /clusters/explain-pair``: why two visible reports are, or are not, grouped."""

from __future__ import annotations

import sqlalchemy as sa

import cleanapp_geo as cg
import cleanapp_geo.io as cio
from cleanapp_api.domain_errors import InvalidRequest, NotFound
from cleanapp_api.schemas import ExplainPairRequest, PairExplanationJSON
from cleanapp_api.services.clusters import MAX_SEQ, _parse_model, parse_classification

__all__ = ["explain_pair"]


def _seq(name: str, value: int | None) -> int:
    if value is None or value == 0:
        raise InvalidRequest(f"{name} is required")
    if not 0 < value <= MAX_SEQ:
        raise InvalidRequest(f"{name} must be a positive integer, got {value}")
    return value


def explain_pair(engine: sa.Engine, request: ExplainPairRequest) -> PairExplanationJSON:
    """Score two visible reports feature by feature with the chosen model.

    The answer is :func:`cleanapp_geo.explain_pair`'s: each feature's kernel value and its
    contribution to the score, the raw measures (distance, Jaccard, severity and time
    differences), the shared tokens and the features unknown on either side.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The store.
    request : ExplainPairRequest
        ``focal_seq``, ``neighbor_seq``, ``model`` and ``classification``.

    Returns
    -------
    PairExplanationJSON

    Raises
    ------
    InvalidRequest
        A seq missing or out of range, an unknown model or classification.
    NotFound
        ``reports not found: [...]`` when a seq is unknown or not visible.
    """
    focal = _seq("focal_seq", request.focal_seq)
    neighbor = _seq("neighbor_seq", request.neighbor_seq)
    name, model = _parse_model(request.model)
    classification = (
        parse_classification(request.classification)
        if (request.classification or "").strip()
        else None
    )
    with engine.connect() as conn:
        frame = cio.read_reports(conn, seqs=[focal, neighbor])
    found = set(frame["seq"].tolist())
    missing = [s for s in dict.fromkeys((focal, neighbor)) if s not in found]
    if missing:
        raise NotFound(f"reports not found: {missing}")
    explanation = cg.explain_pair(
        frame, focal, neighbor, model=model, classification=classification
    )
    return PairExplanationJSON(
        focal_seq=focal,
        neighbor_seq=neighbor,
        model=name,
        score=explanation.score,
        threshold=explanation.threshold,
        is_edge=explanation.is_edge,
        contributions=explanation.contributions,
        kernels=explanation.kernels,
        measures=explanation.measures,
        reasons=list(explanation.reasons),
        shared_tokens=list(explanation.shared_tokens),
        unknown=list(explanation.unknown),
    )
