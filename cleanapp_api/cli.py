"""The ``cleanapp-api`` command line.

Subcommands are registered in :data:`SUBCOMMANDS` (name → function adding an
:mod:`argparse` sub-parser whose ``handler`` default returns the exit code), so others can
be added without touching the existing ones::

    cleanapp-api db upgrade [--revision head] [--database-url URL]
    cleanapp-api db downgrade [--revision base] [--database-url URL]
    cleanapp-api db revision "add cases.priority"
    cleanapp-api db current [--database-url URL]
    cleanapp-api serve [--host H] [--port P] [--workers N]
    cleanapp-api escalations recover [--older-than-s S]
    cleanapp-api reports load PATH [--format geojson|csv|parquet] [--skip-invalid]
                                   [--rejects PATH] [--no-match] [--match-batch-size N]
                                   [--database-url URL]
    cleanapp-api cases rematch [--since TS] [--scope GEOJSON] [--batch-size N]
                               [--database-url URL]
    cleanapp-api demo-token [--user-id demo-user] [--role admin] [--base-url URL]
    cleanapp-api analyze --input reports.parquet --output hypotheses.parquet
                         [--scheduler ADDRESS]   (on Dask: cleanapp_api.batch)

The database URL comes from ``--database-url``, else the ``DATABASE_URL`` environment
variable (read when the command runs). Exit codes: 0 success, 1 invalid input or a failed
operation, 2 usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]
Registration = Callable[[Any], None]  # receives the subparsers action

_MAX_LISTED_ROWS: Final = 100


class CliError(Exception):
    """A failure reported as ``error: <message>`` with exit code 1."""


def _database_url(args: argparse.Namespace) -> str:
    url = args.database_url or os.environ.get("DATABASE_URL", "")
    if not url:
        raise CliError("no database URL: pass --database-url or set DATABASE_URL")
    return str(url)


def _add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL of the PostGIS database (default: $DATABASE_URL)",
    )


# ---------------------------------------------------------------------------------- db


def _db_upgrade(args: argparse.Namespace) -> int:
    from cleanapp_api import db

    url = _database_url(args)
    db.upgrade(url, args.revision)
    print(f"database upgraded to {db.current_revision(url) or 'base'}")
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    from cleanapp_api import db

    url = _database_url(args)
    db.downgrade(url, args.revision)
    print(f"database downgraded to {db.current_revision(url) or 'base'}")
    return 0


def _db_revision(args: argparse.Namespace) -> int:
    from cleanapp_api import db

    path = db.revision(args.message)
    print(f"created {path}")
    print(
        "now fill in upgrade() and downgrade(), and declare the same change in "
        "cleanapp_geo/io/tables.py or cleanapp_api/db/tables.py (docs/architecture.md)"
    )
    return 0


def _db_current(args: argparse.Namespace) -> int:
    from cleanapp_api import db

    current = db.current_revision(_database_url(args))
    head = db.head_revision()
    state = "up to date" if current == head else f"head is {head}"
    print(f"{current or 'base'} ({state})")
    return 0


def _register_db(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database migrations (Alembic)")
    commands = parser.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = commands.add_parser("upgrade", help="migrate up (creates PostGIS if needed)")
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    _add_database_url(upgrade)
    upgrade.set_defaults(handler=_db_upgrade)
    downgrade = commands.add_parser("downgrade", help="migrate down (keeps PostGIS)")
    downgrade.add_argument("--revision", default="base", help="target revision (default: base)")
    _add_database_url(downgrade)
    downgrade.set_defaults(handler=_db_downgrade)
    revision = commands.add_parser(
        "revision", help="create an empty migration from the template (next number)"
    )
    revision.add_argument("message", help='what it does, e.g. "add cases.priority"')
    revision.set_defaults(handler=_db_revision)
    current = commands.add_parser("current", help="show the database's revision")
    _add_database_url(current)
    current.set_defaults(handler=_db_current)


# ------------------------------------------------------------------------------ reports


class _Progress:
    """tqdm bars for :func:`cleanapp_geo.io.write.insert_reports` (silent when not a TTY)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.bar: Any = None

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if phase in ("staging", "matching", "rematch"):
            if self.bar is not None and self.bar.desc != phase:
                self.close()
            if self.bar is None:
                unit = "row" if phase == "staging" else "report"
                self.bar = tqdm(total=total, unit=unit, desc=phase, file=sys.stderr)
            self.bar.update(done - self.bar.n)
            return
        self.close()
        if done == 0:
            print(f"{phase}...", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _print_rejects(rejects: Any, out: TextIO) -> None:
    for row, reason in zip(
        rejects["row"].head(_MAX_LISTED_ROWS), rejects["reason"].head(_MAX_LISTED_ROWS), strict=True
    ):
        print(f"row {row}: {reason}", file=out)
    if len(rejects) > _MAX_LISTED_ROWS:
        print(
            f"... and {len(rejects) - _MAX_LISTED_ROWS} more invalid rows "
            "(--rejects PATH writes them all)",
            file=out,
        )


def _match_options(args: argparse.Namespace) -> Any:
    from cleanapp_api.services.ingest import MatchOptions
    from cleanapp_api.settings import SettingsError, matching_from_env

    try:
        window_s, auto_reopen = matching_from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    return MatchOptions(reopen_window_s=window_s, auto_reopen=auto_reopen)


def _reports_load(args: argparse.Namespace) -> int:
    from cleanapp_api import db
    from cleanapp_api.db.importer import import_report_file
    from cleanapp_api.services.ingest import MatchSummary, match_stored_reports

    if args.match_batch_size < 1:
        raise CliError(f"--match-batch-size must be at least 1, got {args.match_batch_size}")
    options = None if args.no_match else _match_options(args)
    engine = db.create_engine(_database_url(args))
    progress = _Progress(enabled=not args.no_progress)
    matched = MatchSummary()
    try:
        result = import_report_file(
            engine,
            args.path,
            format=args.format,
            skip_invalid=args.skip_invalid,
            rejects_path=args.rejects,
            chunk_size=args.chunk_size,
            progress=progress,
        )
        if result.written and options is not None:
            matched = match_stored_reports(
                engine, result.seqs.tolist(), options,
                batch_size=args.match_batch_size, progress=progress,
            )  # fmt: skip
    finally:
        progress.close()
        engine.dispose()
    if not result.written:
        _print_rejects(result.rejects, sys.stderr)
        where = f"; rejects written to {result.rejects_path}" if result.rejects_path else ""
        print(
            f"error: {len(result.rejects)} of {result.n_rows} rows are invalid, nothing was "
            f"written (--skip-invalid writes the valid rows){where}",
            file=sys.stderr,
        )
        return 1
    skipped = result.n_reports - result.inserted_reports
    print(
        f"{result.path}: {result.n_rows} rows, {result.n_reports} reports; stored "
        f"{result.inserted_reports} new reports and {result.inserted_analyses} new analyses "
        f"({skipped} reports were already stored)"
    )
    if options is not None:
        print(
            f"matched {matched.examined} reports: {matched.attached} attached to cases"
            + (f" ({matched.reopened} reopened)" if matched.reopened else "")
            + f", {matched.suggested} with suggestions"
        )
    if not result.rejects.empty:
        print(
            f"skipped {len(result.rejects)} invalid rows; rejects written to {result.rejects_path}",
            file=sys.stderr,
        )
    return 0


def _register_reports(subparsers: Any) -> None:
    parser = subparsers.add_parser("reports", help="report data")
    commands = parser.add_subparsers(dest="reports_command", required=True, metavar="COMMAND")
    load = commands.add_parser(
        "load",
        help="bulk-import a GeoJSON, CSV or GeoParquet file and match it (idempotent on seq)",
        description=(
            "Validate every row and import the reports. By default nothing is written when "
            "any row is invalid; the invalid rows are listed with their row numbers "
            "(1-based record positions; for CSV, row 1 is the first line after the header). "
            "The stored reports are then matched to the open cases near them in arrival "
            "order, with the decisions of POST /reports (attach, suggest, reopen; "
            "REOPEN_WINDOW_DAYS and AUTO_REOPEN from the environment), one transaction per "
            "batch; --no-match only stores."
        ),
    )
    load.add_argument("path", help="the file to import")
    load.add_argument(
        "--format",
        choices=("geojson", "csv", "parquet"),
        help="file format (default: from the suffix)",
    )
    load.add_argument(
        "--skip-invalid",
        action="store_true",
        help="write the valid rows and put the invalid ones in a rejects file",
    )
    load.add_argument(
        "--rejects",
        metavar="PATH",
        help="CSV file for the invalid rows (default with --skip-invalid: <stem>.rejects.csv)",
    )
    load.add_argument(
        "--chunk-size", type=int, default=50_000, help="rows per COPY chunk (default: 50000)"
    )
    load.add_argument(
        "--no-match",
        action="store_true",
        help="only store: do not match the reports to open cases",
    )
    load.add_argument(
        "--match-batch-size",
        type=int,
        default=500,
        help="reports matched per transaction (default: 500)",
    )
    load.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    _add_database_url(load)
    load.set_defaults(handler=_reports_load)


# ------------------------------------------------------------------------------- cases


def _scope_argument(text: str | None) -> Any:
    import json
    from pathlib import Path

    if text is None:
        return None
    raw = text.strip()
    if not raw.startswith("{"):
        try:
            raw = Path(raw).read_text()
        except OSError as exc:
            raise CliError(f"--scope: cannot read {text}: {exc.strerror}") from exc
    try:
        scope = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CliError(f"--scope is not JSON: {exc}") from exc
    if not isinstance(scope, dict):
        raise CliError("--scope must be a GeoJSON object (Polygon, MultiPolygon or Feature)")
    return scope


def _since_argument(text: str | None) -> Any:
    from datetime import UTC, datetime

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"--since must be an ISO 8601 time, e.g. 2026-03-01T00:00:00Z; got {text!r}"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _cases_rematch(args: argparse.Namespace) -> int:
    from cleanapp_api import db
    from cleanapp_api.domain_errors import InvalidRequest
    from cleanapp_api.services.rematch import rematch

    options = _match_options(args)
    scope = _scope_argument(args.scope)
    since = _since_argument(args.since)
    engine = db.create_engine(_database_url(args))
    progress = _Progress(enabled=not args.no_progress)
    try:
        summary = rematch(
            engine, options, since=since, scope=scope, batch_size=args.batch_size,
            progress=progress,
        )  # fmt: skip
    except InvalidRequest as exc:
        raise CliError(str(exc)) from exc
    finally:
        progress.close()
        engine.dispose()
    state = "resumed an interrupted run" if summary.resumed else "examined"
    print(
        f"{state}: {summary.examined} unlinked reports; {summary.attached} attached to cases, "
        f"{summary.suggested} suggested for cases, {summary.groups} new-case suggestions "
        f"(run {summary.run_key[:12]})"
    )
    return 0


def _register_cases(subparsers: Any) -> None:
    parser = subparsers.add_parser("cases", help="case maintenance")
    commands = parser.add_subparsers(dest="cases_command", required=True, metavar="COMMAND")
    rematch = commands.add_parser(
        "rematch",
        help="re-examine recent unlinked reports against open cases and each other",
        description=(
            "Look again at the visible reports no case took, oldest first: against the open "
            "cases near them (the decisions of POST /reports; a report attached meanwhile is "
            "evidence) and against each other (groups of them become new-case suggestions). "
            "Resumable: an interrupted run with the same --since and --scope continues after "
            "its last batch; idempotent: nothing is linked or suggested twice."
        ),
    )
    rematch.add_argument("--since", metavar="TS", help="only reports made since (ISO 8601)")
    rematch.add_argument(
        "--scope", metavar="GEOJSON", help="only reports inside (a GeoJSON file or literal)"
    )
    rematch.add_argument(
        "--batch-size", type=int, default=200, help="reports per transaction (default 200)"
    )
    rematch.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    _add_database_url(rematch)
    rematch.set_defaults(handler=_cases_rematch)


# ------------------------------------------------------------------------------- serve


def _serve(args: argparse.Namespace) -> int:
    from cleanapp_api.serve import serve
    from cleanapp_api.settings import SettingsError

    try:
        serve(args.host, args.port, log_level=args.log_level, workers=args.workers)
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    return 0


def _register_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="run the HTTP service (configured by DATABASE_URL, JWT_SECRET, ...)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per core)",
    )
    parser.set_defaults(handler=_serve)


# ------------------------------------------------------------------------- escalations


def _escalations_recover(args: argparse.Namespace) -> int:
    from cleanapp_api import db
    from cleanapp_api.escalation.sending import recover_sends
    from cleanapp_api.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    engine = db.create_engine(settings.database_url)
    try:
        seen = recover_sends(engine, settings, older_than_s=args.older_than_s)
    finally:
        engine.dispose()
    print(f"looked at {len(seen)} unsettled sends" + (f": {seen}" if seen else ""))
    return 0


def _register_escalations(subparsers: Any) -> None:
    parser = subparsers.add_parser("escalations", help="escalation sends")
    commands = parser.add_subparsers(dest="escalations_command", required=True, metavar="COMMAND")
    recover = commands.add_parser(
        "recover",
        help="settle pending and unknown sends once (the reconciler, for cron)",
        description=(
            "Ask the email service about every pending or unknown send nobody is driving, "
            "record what it knows and hand over what it never got (DATABASE_URL, "
            "EMAIL_SERVICE_URL, INTERNAL_ADMIN_TOKEN, ...)."
        ),
    )
    recover.add_argument(
        "--older-than-s",
        type=float,
        default=None,
        help="only sends untouched this long (default: ESCALATION_RECOVERY_GRACE_S)",
    )
    recover.set_defaults(handler=_escalations_recover)


# -------------------------------------------------------------------------------- demo


def _demo(args: argparse.Namespace) -> int:
    from cleanapp_geo.demo import run_demo

    run_demo(args.reports, seed=args.seed)
    return 0


def _register_demo(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="analyse a generated city and explain it")
    parser.add_argument("--reports", type=int, default=20_000, help="city size")
    parser.add_argument("--seed", type=int, default=7)
    parser.set_defaults(handler=_demo)


def _demo_token(args: argparse.Namespace) -> int:
    from cleanapp_api import db
    from cleanapp_api.auth import issue_access_token
    from cleanapp_api.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from exc
    engine = db.create_engine(settings.database_url) if settings.auth_token_store == "db" else None
    try:
        token = issue_access_token(
            settings.jwt_secret,
            args.user_id,
            roles=tuple(args.role),
            lifetime_s=args.hours * 3600,
            engine=engine,
        )
    finally:
        if engine is not None:
            engine.dispose()
    base = args.base_url.rstrip("/")
    print(f"{base}/app/#signin={token}")
    return 0


def _register_demo_token(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo-token",
        help="print a workspace sign-in link with a fresh access token (local use)",
        description=(
            "Sign an access token with JWT_SECRET (and register it in auth_tokens of "
            "DATABASE_URL when AUTH_TOKEN_STORE=db), then print the workspace's sign-in link."
        ),
    )
    parser.add_argument("--user-id", default="demo-user", help="user_id claim (default demo-user)")
    parser.add_argument(
        "--role", action="append", default=[], help="a roles claim entry, e.g. admin (repeatable)"
    )
    parser.add_argument("--hours", type=float, default=12.0, help="lifetime (default 12 h)")
    parser.add_argument(
        "--base-url", default="http://127.0.0.1:8080", help="where the service runs"
    )
    parser.set_defaults(handler=_demo_token)


def _register_analyze(subparsers: Any) -> None:
    from cleanapp_api.batch import register_cli

    register_cli(subparsers)


def _register_email_service(subparsers: Any) -> None:
    from cleanapp_api.email_service import register_cli

    register_cli(subparsers)


#: Subcommand name → function registering it on the top-level subparsers.
SUBCOMMANDS: dict[str, Registration] = {
    "db": _register_db,
    "reports": _register_reports,
    "cases": _register_cases,
    "serve": _register_serve,
    "demo": _register_demo,
    "demo-token": _register_demo_token,
    "email-service": _register_email_service,
    "analyze": _register_analyze,
    "escalations": _register_escalations,
}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand.

    Returns
    -------
    argparse.ArgumentParser
        The parser; a parsed namespace carries ``handler``.
    """
    parser = argparse.ArgumentParser(
        prog="cleanapp-api", description="CleanApp Cases service and store tools."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS.values():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code (0 success, 1 failure, 2 usage error).
    """
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        from sqlalchemy.exc import SQLAlchemyError

        from cleanapp_geo.errors import CleanAppGeoError

        if isinstance(exc, CleanAppGeoError | SQLAlchemyError | ValueError | OSError):
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"error: {message}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
