"""Contact sources of escalation targets in the PostGIS store.

* :func:`read_brand_contacts` -- curated ``brand_contacts`` rows for some brands;
* :func:`read_target_sources` -- everything :func:`cleanapp_geo.targets.suggest_targets`
  needs for a scope and a set of reports, in one connection: the mapped areas intersecting
  the scope with their consented emails (:func:`cleanapp_geo.io.read.read_areas`), every
  analysis row of the reports (:func:`cleanapp_geo.io.read.read_analyses`, for the inferred
  contacts of all languages) and the contacts of the brands they name;
* :func:`suggest_stored_targets` -- the two together.

Examples
--------
>>> import sqlalchemy as sa  # doctest: +SKIP
>>> from cleanapp_geo.io.contacts import suggest_stored_targets  # doctest: +SKIP
>>> engine = sa.create_engine("postgresql+psycopg://cleanapp:cleanapp@127.0.0.1/cleanapp")
... # doctest: +SKIP
>>> suggest_stored_targets(engine, scope_geojson, seqs=[101, 102])  # doctest: +SKIP
(EscalationTarget(role_type='contact', ..., target_source='area_contact', ...), ...)
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from cleanapp_geo.io import tables as t
from cleanapp_geo.io.connect import Connectable, connection
from cleanapp_geo.io.read import _PSYCOPG_DIALECT, _area_rows, read_analyses, read_areas
from cleanapp_geo.scope import RadiusScope
from cleanapp_geo.targets import (
    DEFAULT_SUGGESTION_LIMIT,
    EscalationTarget,
    brand_key,
    report_brands,
    suggest_targets,
)

__all__ = [
    "BRAND_CONTACT_COLUMNS",
    "TargetSources",
    "read_area_contact_rows",
    "read_brand_contact_records",
    "read_brand_contacts",
    "read_target_sources",
    "suggest_stored_targets",
]

#: Columns of :func:`read_brand_contacts`, in order.
BRAND_CONTACT_COLUMNS: Final = (
    "brand_key",
    "organization",
    "role",
    "emails",
    "website",
    "contact_url",
    "source",
)

Geometry = shapely.Geometry | RadiusScope | dict[str, Any] | str


def read_brand_contacts(con: Connectable, brands: Iterable[str]) -> pd.DataFrame:
    """Load the ``brand_contacts`` rows of some brands.

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    brands : iterable of str
        Brand names or keys; each is reduced with :func:`cleanapp_geo.targets.brand_key`
        (case-folded, whitespace compacted) and compared with the stored ``brand_key``.

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`BRAND_CONTACT_COLUMNS` (``emails`` a list of str), ordered by
        ``brand_key``, ``role``, ``organization``, then id.
    """
    rows = _brand_contact_rows(con, brands)
    values = list(zip(*rows, strict=True)) if rows else [()] * len(BRAND_CONTACT_COLUMNS)
    return pd.DataFrame(
        {
            name: (
                pd.Series([list(v or ()) for v in column], dtype=object)
                if name == "emails"
                else pd.array([str(v) for v in column], dtype=str)
            )
            for name, column in zip(BRAND_CONTACT_COLUMNS, values, strict=True)
        }
    )


def read_brand_contact_records(con: Connectable, brands: Iterable[str]) -> list[dict[str, Any]]:
    """Load the rows of :func:`read_brand_contacts` as records, without a DataFrame.

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    brands : iterable of str
        Brand names or keys (see :func:`read_brand_contacts`).

    Returns
    -------
    list of dict
        One dict per row with the keys of :data:`BRAND_CONTACT_COLUMNS` (``emails`` a list
        of str, the other values str), in the order of :func:`read_brand_contacts`: its
        ``to_dict("records")``.
    """
    return [
        {
            name: list(v or ()) if name == "emails" else str(v)
            for name, v in zip(BRAND_CONTACT_COLUMNS, row, strict=True)
        }
        for row in _brand_contact_rows(con, brands)
    ]


def read_area_contact_rows(con: Connectable, geometry: Geometry) -> list[tuple[Any, ...]]:
    """Load the rows of :func:`cleanapp_geo.io.read.read_area_contacts` as tuples.

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    geometry : shapely geometry, RadiusScope, GeoJSON mapping or str
        As for :func:`cleanapp_geo.io.read.read_areas`.

    Returns
    -------
    list of tuple
        ``(area_id, name, description, emails)`` (``emails`` a sorted list of the consented
        contact emails), ordered by ``name`` then ``area_id``.
    """
    return [
        (int(row[0]), str(row[1]), str(row[2]), list(row[3]))
        for row in _area_rows(con, geometry, with_geometry=False)
    ]


def _brand_contact_rows(con: Connectable, brands: Iterable[str]) -> Sequence[Any]:
    """Fetch the driver's rows of the ``brand_contacts`` of some brands (none without keys)."""
    keys = sorted({k for k in map(brand_key, set(brands)) if k})  # names repeat
    if not keys:
        return []
    compiled = _brand_contacts_compiled()
    with connection(con) as conn:
        raw = conn.connection.driver_connection
        if raw is None:  # pragma: no cover - a live connection always has one
            raise RuntimeError("the SQLAlchemy connection has no DBAPI connection")
        # The driver's tuples (the columns need no result processing): SQLAlchemy's
        # execution path cost more than the query for the few brands of a scope.
        with raw.cursor(binary=True) as cursor:
            cursor.execute(str(compiled), compiled.construct_params({"keys": keys}))
            return cursor.fetchall()


@functools.cache
def _brand_contacts_compiled() -> sa.engine.Compiled:
    """Compile :func:`_brand_contacts_statement` for the psycopg driver, once."""
    return _brand_contacts_statement().compile(dialect=_PSYCOPG_DIALECT)


@functools.cache
def _brand_contacts_statement() -> sa.Select[Any]:
    """Build the brand contacts query once (building it cost about as much as running it)."""
    bc = t.brand_contacts
    return (
        sa.select(*(bc.c[name] for name in BRAND_CONTACT_COLUMNS))
        .where(bc.c.brand_key == sa.any_(sa.bindparam("keys", type_=pg.ARRAY(sa.String))))
        .order_by(bc.c.brand_key, bc.c.role, bc.c.organization, bc.c.id)
    )


@dataclass(frozen=True, slots=True)
class TargetSources:
    """The stored contact sources of a scope and a set of reports.

    Attributes
    ----------
    areas : geopandas.GeoDataFrame or None
        Areas intersecting the scope with their consented ``emails``; None without a scope.
    analyses : pandas.DataFrame
        Every analysis row of the reports (all languages).
    brand_contacts : pandas.DataFrame
        ``brand_contacts`` rows of the brands the analyses name.
    """

    areas: pd.DataFrame | None
    analyses: pd.DataFrame
    brand_contacts: pd.DataFrame


def read_target_sources(
    con: Connectable,
    geometry: Geometry | None,
    seqs: Sequence[int] | np.ndarray | pd.Series = (),
) -> TargetSources:
    """Load the stored contact sources of a scope and a set of reports.

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    geometry : shapely geometry, RadiusScope, GeoJSON or None
        The scope (see :func:`cleanapp_geo.io.read.read_areas`); None skips area contacts.
    seqs : sequence of int
        The reports (unknown ones are ignored).

    Returns
    -------
    TargetSources
        Areas, analyses and brand contacts.
    """
    with connection(con) as conn:
        areas = read_areas(conn, geometry) if geometry is not None else None
        analyses = read_analyses(conn, seqs)
        brands = [*analyses["brand_name"].tolist(), *analyses["brand_display_name"].tolist()]
        contacts = read_brand_contacts(conn, brands)
    return TargetSources(areas=areas, analyses=analyses, brand_contacts=contacts)


def suggest_stored_targets(
    con: Connectable,
    geometry: Geometry | None,
    seqs: Sequence[int] | np.ndarray | pd.Series = (),
    *,
    existing: Iterable[EscalationTarget] = (),
    limit: int = DEFAULT_SUGGESTION_LIMIT,
) -> tuple[EscalationTarget, ...]:
    """Suggest targets from the store: area, brand and inferred contacts.

    Inferred contacts come from every analysis row of the reports (all languages); the brand
    of a report is the one of its English analysis, else of its first analysis naming one.

    Parameters
    ----------
    con : sqlalchemy.Engine or sqlalchemy.Connection
        The store.
    geometry : shapely geometry, RadiusScope, GeoJSON or None
        The scope; None skips area contacts.
    seqs : sequence of int
        The reports.
    existing : iterable of EscalationTarget
        Further candidates merged in (e.g. discovered ones).
    limit : int, default 8
        Maximum number of targets.

    Returns
    -------
    tuple of EscalationTarget
        See :func:`cleanapp_geo.targets.suggest_targets`.
    """
    sources = read_target_sources(con, geometry, seqs)
    return suggest_targets(
        report_brands(sources.analyses),
        areas=sources.areas,
        brand_contacts=sources.brand_contacts,
        analyses=sources.analyses,
        existing=existing,
        limit=limit,
    )
