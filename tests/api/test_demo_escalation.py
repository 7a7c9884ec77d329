"""The demo escalation (analyse → case → draft → send to the outbox) on the test schema."""

from __future__ import annotations

import email
import email.policy
import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from cleanapp_api.demo_escalation import AREA_EMAIL, BRAND_EMAIL, run_demo_escalation

pytestmark = pytest.mark.postgis


def test_demo_escalation_writes_eml_files(db_url: str, clean_db: sa.Engine, tmp_path: Path) -> None:
    out = io.StringIO()
    files = run_demo_escalation(db_url, tmp_path / "outbox", out=out)
    assert len(files) == 2 and all(f.parent == (tmp_path / "outbox").resolve() for f in files)
    recipients = set()
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        recipients.add(message["To"].addresses[0].addr_spec)
        assert message["Subject"] == "CleanApp-Meldung: Vorfallcluster bei Schulhaus Kopfholz"
        assert message["List-Unsubscribe"].startswith("<http://127.0.0.1:")
    assert recipients == {AREA_EMAIL, BRAND_EMAIL}
    text = out.getvalue()
    assert "4. sent (sent):" in text and str(files[0]) in text
    # A second run opens a new case and sends again (the seeded data is reused).
    assert len(run_demo_escalation(db_url, tmp_path / "outbox", out=io.StringIO())) == 2
