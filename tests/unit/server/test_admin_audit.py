"""The audit log: hash chain, append-only triggers, tamper detection, CSV and JSON export."""

import csv
import io
import itertools
import json
import os
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from tasuke.server.admin import audit
from tasuke.server.db.engine import create_engine, make_sessionmaker, migrate
from tasuke.server.db.store import Store
from tests.support.server import FakeClock


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Store]:
    engine = create_engine(tmp_path / "t.sqlite3")
    await migrate(engine)
    yield Store(make_sessionmaker(engine), clock, os.urandom)
    await engine.dispose()


async def _fill(store: Store, clock: FakeClock, count: int = 5) -> None:
    for i in range(count):
        clock.advance(1.5)
        await audit.record(
            store,
            "test.event",
            actor=f"op{i}",
            subject="sato",
            address="192.0.2.1",
            details={"n": i, "text": "日本語"},
        )


def _raw(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "t.sqlite3")


async def test_rows_form_a_chain(store: Store, clock: FakeClock) -> None:
    await _fill(store, clock)
    rows = await store.audit.entries(newest_first=False)
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.hash
    report = await store.audit.verify()
    assert report.ok
    assert report.rows == 5
    assert report.head == rows[-1].hash


async def test_empty_log_verifies(store: Store) -> None:
    report = await store.audit.verify()
    assert report.ok
    assert report.rows == 0


async def test_triggers_refuse_update_and_delete(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await _fill(store, clock, 2)
    with _raw(tmp_path) as db:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM audit_log WHERE id = 2")
    assert (await store.audit.verify()).ok


def _drop_triggers(db: sqlite3.Connection) -> None:
    db.execute("DROP TRIGGER audit_log_no_update")
    db.execute("DROP TRIGGER audit_log_no_delete")


async def test_an_edited_row_is_named(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    await _fill(store, clock)
    with _raw(tmp_path) as db:
        _drop_triggers(db)
        db.execute("UPDATE audit_log SET actor = 'innocent' WHERE id = 3")
    report = await store.audit.verify()
    assert not report.ok
    assert report.broken_at == 3
    assert "changed" in report.problem


async def test_an_edit_that_also_fixes_the_hash_breaks_the_next_link(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await _fill(store, clock)
    row = (await store.audit.entries(newest_first=False))[2]
    forged = audit.entry_hash(
        row.prev_hash,
        id=row.id,
        at=row.at,
        event=row.event,
        actor="innocent",
        subject=row.subject,
        address=row.address,
        details=row.details,
    )
    with _raw(tmp_path) as db:
        _drop_triggers(db)
        db.execute("UPDATE audit_log SET actor = 'innocent', hash = ? WHERE id = 3", (forged,))
    report = await store.audit.verify()
    assert report.broken_at == 4
    assert "removed" in report.problem


async def test_a_deleted_row_is_named(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    await _fill(store, clock)
    with _raw(tmp_path) as db:
        _drop_triggers(db)
        db.execute("DELETE FROM audit_log WHERE id = 2")
    report = await store.audit.verify()
    assert not report.ok
    assert report.broken_at == 3
    assert report.rows == 2


async def test_details_changed_by_one_character_show(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await _fill(store, clock)
    with _raw(tmp_path) as db:
        _drop_triggers(db)
        db.execute("""UPDATE audit_log SET details = replace(details, '"n":1', '"n":7')""")
    assert (await store.audit.verify()).broken_at == 2


async def test_appending_after_a_restart_continues_the_chain(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await _fill(store, clock, 2)
    other = Store(store.sessionmaker, clock, os.urandom)  # a second process's view
    await audit.record(other, "test.other", actor=None, subject=None, address=None)
    await _fill(store, clock, 2)
    report = await store.audit.verify()
    assert report.ok
    assert report.rows == 5


async def test_json_export_round_trips_and_rechecks(store: Store, clock: FakeClock) -> None:
    await _fill(store, clock, 3)
    rows = await store.audit.entries(newest_first=False)
    data = json.loads(audit.export_json(rows))
    assert [d["id"] for d in data] == [1, 2, 3]
    assert data[0]["details"] == {"n": 0, "text": "日本語"}
    assert data[0]["actor"] == "op0"
    # An outside reader can recompute every hash from the export alone.
    previous = audit.GENESIS
    for item in data:
        recomputed = audit.entry_hash(
            previous,
            id=item["id"],
            at=datetime.fromisoformat(item["at"]),
            event=item["event"],
            actor=item["actor"],
            subject=item["subject"],
            address=item["address"],
            details=json.dumps(
                item["details"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
            ),
        )
        assert recomputed == item["hash"]
        previous = item["hash"]


async def test_csv_export_has_a_header_and_defuses_formulas(store: Store, clock: FakeClock) -> None:
    await _fill(store, clock, 2)
    await audit.record(
        store, "signin.failed", actor="=HYPERLINK(1)", subject="@x", address=None, details={}
    )
    rows = await store.audit.entries(newest_first=False)
    parsed = list(csv.reader(io.StringIO(audit.export_csv(rows))))
    assert parsed[0] == [
        "id",
        "at",
        "event",
        "actor",
        "subject",
        "address",
        "details",
        "prev_hash",
        "hash",
    ]
    assert len(parsed) == 4
    assert parsed[1][2] == "test.event"
    assert json.loads(parsed[1][6]) == {"n": 0, "text": "日本語"}
    assert parsed[3][3] == "'=HYPERLINK(1)"
    assert parsed[3][4] == "'@x"
    assert parsed[3][8] == rows[2].hash


async def test_long_fields_are_cut_not_refused(store: Store) -> None:
    await audit.record(store, "x" * 100, actor="a" * 500, subject=None, address=None)
    row = (await store.audit.entries())[0]
    assert len(row.event) == 64
    assert row.actor is not None
    assert len(row.actor) == 100
    assert (await store.audit.verify()).ok


async def _rewrite_from(tmp_path: Path, store: Store, first_id: int, actor: str) -> None:
    """What an attacker with the database can do: change a row and recompute every later hash."""
    rows = await store.audit.entries(newest_first=False)
    previous = rows[first_id - 2].hash if first_id > 1 else audit.GENESIS
    with _raw(tmp_path) as db:
        _drop_triggers(db)
        # prev_hash is UNIQUE: move the old values out of the way first.
        db.execute("UPDATE audit_log SET prev_hash = 'old' || id, hash = 'old' || id")
        for row in rows:
            if row.id < first_id:
                db.execute(
                    "UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?",
                    (row.prev_hash, row.hash, row.id),
                )
                continue
            new_actor = actor if row.id == first_id else row.actor
            new_hash = audit.entry_hash(
                previous,
                id=row.id,
                at=row.at,
                event=row.event,
                actor=new_actor,
                subject=row.subject,
                address=row.address,
                details=row.details,
            )
            db.execute(
                "UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE id = ?",
                (new_actor, previous, new_hash, row.id),
            )
            previous = new_hash


async def test_an_anchor_catches_a_recomputed_history(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await _fill(store, clock)
    anchor = (await store.audit.verify()).head
    assert (await store.audit.verify([anchor])).ok
    await _rewrite_from(tmp_path, store, 2, "innocent")
    # The chain alone cannot tell: every hash was recomputed.
    assert (await store.audit.verify()).ok
    report = await store.audit.verify([anchor])
    assert not report.ok
    assert "anchor" in report.problem


async def test_an_anchor_catches_rows_cut_off_the_end(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    await _fill(store, clock)
    anchor = (await store.audit.verify()).head
    with _raw(tmp_path) as db:
        _drop_triggers(db)
        db.execute("DELETE FROM audit_log WHERE id >= 4")
    assert (await store.audit.verify()).ok
    assert not (await store.audit.verify([anchor])).ok
    # An older anchor that is still in the chain is fine.
    rows = await store.audit.entries(newest_first=False)
    assert (await store.audit.verify([rows[1].hash])).ok
