"""Fault scenarios for delivery truth, with real parts: the case service and the email service
as subprocesses (killed with SIGKILL), a real SMTP sink (aiosmtpd) that can stall, answer
451 or 550, a real PostgreSQL made unresponsive by a lock another connection holds.

Each scenario returns what a user can check: the messages the sink received per recipient
and the states the store holds after the recovery window. ``tests/api/test_delivery_faults.py``
asserts them; ``PYTHONPATH=tests:tests/api python tests/api/fault_support.py`` prints the
table of every scenario (put another checkout first on ``PYTHONPATH`` to see that checkout's
behaviour: the table of docs/delivery.md compares the code before and after).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from api_support import JWT_SECRET, bearer, mint_token
from case_support import record, square, write
from support import free_port, libpq_url

INTERNAL_TOKEN = "internal-" + "f00dfeed" * 6
ALICE = bearer(mint_token("alice", exp_in_s=24 * 3600))
ZURICH = (47.3769, 8.5417)
RECIPIENTS = ("ops@town.ch", "works@town.ch")

# Short timeouts so every fault settles within seconds (the defaults are in docs/delivery.md).
API_ENV = {
    "JWT_SECRET": JWT_SECRET,
    "AUTH_TOKEN_STORE": "off",
    "INTERNAL_ADMIN_TOKEN": INTERNAL_TOKEN,
    "RATE_LIMIT_RPS": "1000",
    "RATE_LIMIT_BURST": "1000",
    "ESCALATION_SEND_TIMEOUT_S": "1.5",
    "ESCALATION_RECOVERY_INTERVAL_S": "0.5",
    "ESCALATION_RECOVERY_GRACE_S": "1",
    "DATABASE_STATEMENT_TIMEOUT_S": "2",
    "DATABASE_POOL_TIMEOUT_S": "2",
}
EMAIL_ENV = {
    "INTERNAL_ADMIN_TOKEN": INTERNAL_TOKEN,
    "EMAIL_PROVIDER": "smtp",
    "SMTP_HOST": "127.0.0.1",
    "EMAIL_FROM": "cases@cleanapp.io",
    "EMAIL_PROVIDER_TIMEOUT_S": "3",
    "EMAIL_RETRY_BASE_S": "0.5",
    "EMAIL_RETRY_MAX_ATTEMPTS": "4",
    "EMAIL_RECOVERY_INTERVAL_S": "0.3",
    "EMAIL_QUEUED_GRACE_S": "2",
    "DATABASE_STATEMENT_TIMEOUT_S": "2",
}


# --------------------------------------------------------------------------- SMTP sink


class FaultySink:
    """aiosmtpd handler: counts accepted messages per recipient; can stall or refuse.

    A message counts as received only when the sink answers 250 to its DATA: a client that
    dies while the sink stalls cancels the handler (aiosmtpd), and a server that never
    acknowledged a message has not taken responsibility for it (RFC 5321 §6.1).
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []  # (recipient, Message-ID)
        self.delay_s = 0.0
        self.refuse: dict[str, str] = {}  # recipient -> SMTP reply
        self.fail_once: dict[str, str] = {}  # recipient -> reply for its next attempt only
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        rcpt = envelope.rcpt_tos[0]
        with self.lock:
            if rcpt in self.fail_once:
                return self.fail_once.pop(rcpt)
            if rcpt in self.refuse:
                return self.refuse[rcpt]
            message_id = ""
            for line in envelope.content.decode("utf-8", "replace").splitlines():
                if line.lower().startswith("message-id:"):
                    message_id = line.split(":", 1)[1].strip()
                    break
            self.received.append((rcpt, message_id))
        return "250 Message accepted for delivery"

    def counts(self) -> dict[str, int]:
        with self.lock:
            return dict(Counter(r for r, _ in self.received))


@contextmanager
def faulty_sink() -> Iterator[tuple[int, FaultySink]]:
    handler = FaultySink()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


# --------------------------------------------------------------------------- processes


@dataclass
class Service:
    """A service subprocess on a fixed loopback port (restartable after a SIGKILL)."""

    code: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> Service:
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.code.format(port=self.port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service on port {self.port} exited ({self.proc.returncode})")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"service on port {self.port} did not start")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def email_service(db_url: str, smtp_port: int) -> Service:
    code = (
        "from cleanapp_api.email_service import serve_email_service; "
        "serve_email_service('127.0.0.1', {port}, log_level='warning')"
    )
    return Service(code, {**EMAIL_ENV, "DATABASE_URL": db_url, "SMTP_PORT": str(smtp_port)})


def case_service(db_url: str, email_url: str) -> Service:
    # An older checkout's serve() has no workers argument.
    code = (
        "import inspect\nfrom cleanapp_api.serve import serve\n"
        "kw = {{'workers': 1}} if 'workers' in inspect.signature(serve).parameters else {{}}\n"
        "serve('127.0.0.1', {port}, log_level='warning', **kw)"
    )
    return Service(code, {**API_ENV, "DATABASE_URL": db_url, "EMAIL_SERVICE_URL": email_url})


# --------------------------------------------------------------------------- the store


def make_case(api_url: str, engine: sa.Engine, seq: int) -> tuple[str, list[int]]:
    """A case with one report and one target per address of :data:`RECIPIENTS`."""
    write(engine, [record(seq, latitude=ZURICH[0], longitude=ZURICH[1], severity_level=0.9)])
    response = httpx.post(
        api_url + "/api/v3/cases",
        json={
            "title": f"Broken wall {seq}",
            "classification": "physical",
            "geometry": square(*ZURICH, 200),
            "report_seqs": [seq],
            "anchor_report_seq": seq,
            "force_new_case": True,
            "escalation_targets": [
                {"email": email, "confidence_score": 0.9, "target_source": "area_contact"}
                for email in RECIPIENTS
            ],
        },
        headers=ALICE,
        timeout=30,
    )
    response.raise_for_status()
    detail = response.json()
    ids = [t["id"] for t in detail["escalation_targets"] if t["email"] in RECIPIENTS]
    return detail["case"]["case_id"], ids


def stored_state(engine: sa.Engine, case_id: str) -> dict[str, Any]:
    """Sends, actions and the latest delivery per recipient of a case."""
    with engine.connect() as conn:
        sends = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT status FROM case_escalation_sends WHERE case_id = :c ORDER BY id"),
                {"c": case_id},
            )
        ]
        actions = [
            r[0]
            for r in conn.execute(
                sa.text(
                    "SELECT status FROM case_escalation_actions WHERE case_id = :c ORDER BY id"
                ),
                {"c": case_id},
            )
        ]
        deliveries: dict[str, list[str]] = {}
        for email, status in conn.execute(
            sa.text(
                "SELECT recipient_email, delivery_status FROM case_email_deliveries "
                "WHERE case_id = :c ORDER BY id"
            ),
            {"c": case_id},
        ):
            deliveries.setdefault(email, []).append(status)
    return {"sends": sends, "actions": actions, "deliveries": deliveries}


def ledger_states(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.text("SELECT status FROM email_messages"))]


def wait_until(check: Callable[[], bool], timeout_s: float, step_s: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step_s)
    return check()


def settled(engine: sa.Engine, case_id: str) -> bool:
    state = stored_state(engine, case_id)
    return bool(state["sends"]) and all(s not in ("pending", "unknown") for s in state["sends"])


@contextmanager
def table_lock(db_url: str, table: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on a table from another connection (the DB stalls)."""
    conn = psycopg.connect(libpq_url(db_url))
    try:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        conn.rollback()
        conn.close()


# --------------------------------------------------------------------------- scenarios


@dataclass
class Outcome:
    """What a scenario leaves: HTTP answers, messages per recipient, stored states."""

    scenario: str
    answers: list[int] = field(default_factory=list)
    received: dict[str, int] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    seconds_to_settle: float | None = None
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        per = ", ".join(f"{k.split('@')[0]}: {v}" for k, v in sorted(self.received.items()))
        latest = {k: v[-1] for k, v in self.state.get("deliveries", {}).items()}
        final = ", ".join(f"{k.split('@')[0]}: {v}" for k, v in sorted(latest.items()))
        return (
            f"| {self.scenario} | {self.answers} | {per or 'none'} | "
            f"sends {self.state.get('sends')}; deliveries {final or 'none'} |"
        )


def send(api_url: str, case_id: str, ids: list[int], **kwargs: Any) -> httpx.Response:
    headers = {**ALICE, **kwargs.pop("headers", {})}
    return httpx.post(
        f"{api_url}/api/v3/cases/{case_id}/escalations/send",
        json={"target_ids": ids, **kwargs},
        headers=headers,
        timeout=30,
    )


def _settle(outcome: Outcome, engine: sa.Engine, case_id: str, started: float) -> None:
    if wait_until(lambda: settled(engine, case_id), 60):
        outcome.seconds_to_settle = round(time.monotonic() - started, 1)


def slow_email_service(db_url: str, engine: sa.Engine, seq: int) -> Outcome:
    """The email service is slower than ESCALATION_SEND_TIMEOUT_S; then the same send again."""
    out = Outcome("email service slower than the API's timeout, then the same send again")
    with faulty_sink() as (smtp_port, sink):
        email = email_service(db_url, smtp_port).start()
        api = case_service(db_url, email.url).start()
        try:
            case_id, ids = make_case(api.url, engine, seq)
            sink.delay_s = 1.0  # two recipients: 2 s > ESCALATION_SEND_TIMEOUT_S
            started = time.monotonic()
            out.answers.append(send(api.url, case_id, ids).status_code)
            wait_until(lambda: len(sink.received) >= len(RECIPIENTS), 15)
            sink.delay_s = 0.0
            _settle(out, engine, case_id, started)
            out.answers.append(send(api.url, case_id, ids).status_code)  # no key: again
            time.sleep(2)
            out.received = sink.counts()
            out.state = stored_state(engine, case_id)
        finally:
            api.stop()
            email.stop()
    return out


def api_killed_mid_send(db_url: str, engine: sa.Engine, seq: int) -> Outcome:
    """SIGKILL of the case service while the email service is delivering; it restarts."""
    out = Outcome("case service SIGKILLed mid-send, restarted")
    with faulty_sink() as (smtp_port, sink):
        email = email_service(db_url, smtp_port).start()
        api = case_service(db_url, email.url).start()
        try:
            case_id, ids = make_case(api.url, engine, seq)
            sink.delay_s = 0.6
            thread = threading.Thread(target=lambda: _quiet(send, api.url, case_id, ids))
            thread.start()
            time.sleep(0.4)
            api.kill()
            thread.join(timeout=30)
            sink.delay_s = 0.0
            started = time.monotonic()
            api.start()
            _settle(out, engine, case_id, started)
            out.received = sink.counts()
            out.state = stored_state(engine, case_id)
        finally:
            api.stop()
            email.stop()
    return out


def email_service_killed_mid_send(db_url: str, engine: sa.Engine, seq: int) -> Outcome:
    """SIGKILL of the email service while the SMTP server holds its first message."""
    out = Outcome("email service SIGKILLed mid-send, restarted")
    with faulty_sink() as (smtp_port, sink):
        email = email_service(db_url, smtp_port).start()
        api = case_service(db_url, email.url).start()
        try:
            case_id, ids = make_case(api.url, engine, seq)
            sink.delay_s = 0.8
            answer: list[int] = []
            thread = threading.Thread(
                target=lambda: answer.append(_quiet(send, api.url, case_id, ids))
            )
            thread.start()
            time.sleep(0.4)
            email.kill()
            thread.join(timeout=30)
            out.answers.extend(answer)
            sink.delay_s = 0.0
            started = time.monotonic()
            email.start()
            _settle(out, engine, case_id, started)
            out.received = sink.counts()
            out.state = stored_state(engine, case_id)
            out.notes.append(f"ledger: {sorted(ledger_states(engine))}")
        finally:
            api.stop()
            email.stop()
    return out


def database_stalled_mid_send(db_url: str, engine: sa.Engine, seq: int) -> Outcome:
    """The database stalls (a table locked by another connection): before a send, then while
    the email service delivers one; then it is back."""
    out = Outcome("database unresponsive (table locked) before and during a send, then back")
    with faulty_sink() as (smtp_port, sink):
        email = email_service(db_url, smtp_port).start()
        api = case_service(db_url, email.url).start()
        try:
            case_id, ids = make_case(api.url, engine, seq)
            answer: list[tuple[int, float]] = []

            def call() -> None:
                t0 = time.monotonic()
                code = _quiet(send, api.url, case_id, ids)
                answer.append((code, time.monotonic() - t0))

            # Before: the intent cannot be recorded; nothing is stored or sent.
            with table_lock(db_url, "case_email_deliveries"):
                call()
            before = stored_state(engine, case_id)
            out.notes.append(f"before: sends {before['sends']}, received {sink.counts()}")
            # During: the email service delivers while the deliveries table is locked.
            sink.delay_s = 0.5
            thread = threading.Thread(target=call)
            thread.start()
            wait_until(lambda: bool(ledger_states(engine)), 15, 0.02)
            with table_lock(db_url, "case_escalation_actions"):
                thread.join(timeout=40)
            out.answers.extend(code for code, _ in answer)
            out.notes.extend(f"answered in {s:.1f} s" for _, s in answer)
            sink.delay_s = 0.0
            started = time.monotonic()
            _settle(out, engine, case_id, started)
            out.received = sink.counts()
            out.state = stored_state(engine, case_id)
        finally:
            api.stop()
            email.stop()
    return out


def smtp_451_then_ok(db_url: str, engine: sa.Engine, seq: int) -> Outcome:
    """The SMTP server answers 451 (try again later) once per recipient."""
    out = Outcome("SMTP 451 on the first attempt")
    with faulty_sink() as (smtp_port, sink):
        email = email_service(db_url, smtp_port).start()
        api = case_service(db_url, email.url).start()
        try:
            case_id, ids = make_case(api.url, engine, seq)
            sink.fail_once = {r: "451 4.3.0 try again later" for r in RECIPIENTS}
            started = time.monotonic()
            key = {"Idempotency-Key": "k"}
            out.answers.append(send(api.url, case_id, ids, headers=key).status_code)
            _settle(out, engine, case_id, started)
            retry = send(api.url, case_id, ids, headers=key)
            out.answers.append(retry.status_code)
            out.received = sink.counts()
            out.state = stored_state(engine, case_id)
        finally:
            api.stop()
            email.stop()
    return out


def smtp_550_then_same_key_retry(db_url: str, engine: sa.Engine, seq: int) -> Outcome:
    """One recipient refused with 550; the mailbox is fixed; the client retries its key."""
    out = Outcome("SMTP 550 for one recipient, then a same-key retry")
    with faulty_sink() as (smtp_port, sink):
        email = email_service(db_url, smtp_port).start()
        api = case_service(db_url, email.url).start()
        try:
            case_id, ids = make_case(api.url, engine, seq)
            sink.refuse = {RECIPIENTS[1]: "550 5.1.1 mailbox unavailable"}
            key = {"Idempotency-Key": "retry-me"}
            first = send(api.url, case_id, ids, headers=key)
            out.answers.append(first.status_code)
            errors = [d.get("error_message") for d in first.json().get("deliveries", [])]
            out.notes.append(f"first errors: {errors}")
            sink.refuse = {}
            out.answers.append(send(api.url, case_id, ids, headers=key).status_code)
            out.received = sink.counts()
            out.state = stored_state(engine, case_id)
        finally:
            api.stop()
            email.stop()
    return out


def _quiet(fn: Callable[..., httpx.Response], *args: Any) -> int:
    try:
        return fn(*args).status_code
    except httpx.HTTPError:
        return 0  # the connection died with the process


SCENARIOS = [
    slow_email_service,
    api_killed_mid_send,
    email_service_killed_mid_send,
    database_stalled_mid_send,
    smtp_451_then_ok,
    smtp_550_then_same_key_retry,
]


def main() -> None:
    from support import migrated_schema

    print("| scenario | HTTP answers | emails received per recipient | final stored state |")
    print("|---|---|---|---|")
    for i, scenario in enumerate(SCENARIOS):
        with migrated_schema("faults") as url:
            engine = sa.create_engine(url)
            try:
                out = scenario(url, engine, 100 + i)
            except Exception as exc:  # a checkout that cannot run a scenario at all
                print(f"| {scenario.__name__} | error: {type(exc).__name__}: {exc} | | |")
                continue
            finally:
                engine.dispose()
        settle = f"settled in {out.seconds_to_settle} s;" if out.seconds_to_settle else ""
        print(out.row(), settle, "; ".join(out.notes))


if __name__ == "__main__":
    main()
