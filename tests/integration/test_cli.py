"""The CLI as a user runs it: separate processes on a file database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from ordertrail.bootstrap import bootstrap
from ordertrail.brokers.paper import PaperBroker, PaperConfig
from ordertrail.domain.instrument import Instrument
from ordertrail.domain.proposal import ProposalKind
from ordertrail.services.proposals import NewProposal, create_proposal
from ordertrail.settings import Settings

ALERTS = {
    "RealDayTrading": {
        "TSLA": {
            "open": True,
            "created_at": "2025-09-27T21:48:54.749824",
            "option_conid": 622542959,
            "alert_details": {"ticker": "TSLA", "strike": "95", "side": "C"},
            "last_order_update": {
                "order_id": "TEST_12345",
                "status": "FILLED",
                "filled_qty": 10,
                "updated_at": "2025-09-29T09:55:13.763432",
            },
        }
    },
    "Demslayer": {
        "AAPL": {
            "open": False,
            "created_at": "2025-09-28T10:00:00",
            "alert_details": {"ticker": "AAPL", "strike": "", "side": ""},
        }
    },
}


def run(db: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ORDERTRAIL_")}
    environment |= {"ORDERTRAIL_DATABASE_URL": db, **env}
    return subprocess.run(
        [sys.executable, "-m", "ordertrail", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_alerts_import_then_export_round_trips_exactly(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    source = tmp_path / "alerts.json"
    source.write_text(json.dumps(ALERTS))
    assert run(db, "alerts", "import", str(source)).returncode == 0
    target = tmp_path / "out.json"
    assert run(db, "alerts", "export", str(target)).returncode == 0
    assert json.loads(target.read_text()) == ALERTS
    single = tmp_path / "one.json"
    single.write_text(json.dumps(ALERTS["Demslayer"]))
    refused = run(db, "alerts", "import", str(single))
    assert refused.returncode != 0 and "--source" in refused.stderr


def test_sync_once_without_a_broker_says_what_to_set(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path}/cli.db", "sync", "--once")
    assert result.returncode != 0
    assert "ORDERTRAIL_TRADIER_ACCOUNT_ID" in result.stderr


def test_unusable_database_url_is_a_clear_error(tmp_path: Path) -> None:
    result = run("mysql://nobody@nowhere/x", "orders", "list")
    assert result.returncode != 0 and "ORDERTRAIL_DATABASE_URL" in result.stderr


async def test_orders_list_json_and_trace_show_what_was_applied(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    paper = PaperBroker(PaperConfig(account_id="P1"))
    app = bootstrap(Settings(database_url=db), brokers={"paper:P1": paper})
    proposal = create_proposal(
        app.uow(),
        NewProposal(
            kind=ProposalKind.ENTRY,
            broker="paper",
            account_id="P1",
            instrument=Instrument("AAPL"),
            quantity=D(10),
        ),
        app.clock,
    )
    await app.placer.submit(proposal.id)
    paper.advance()
    await app.applier.apply(await paper.list_orders(app.clock.now()))
    await app.aclose()

    listed = run(db, "orders", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 1
    row = rows[0]
    assert {
        k: row[k]
        for k in (
            "broker",
            "account_id",
            "side",
            "status",
            "symbol",
            "quantity",
            "filled_quantity",
            "remaining_quantity",
            "avg_fill_price",
            "proposal_id",
            "external",
        )
    } == {
        "broker": "paper",
        "account_id": "P1",
        "side": "ENTRY",
        "status": "FILLED",
        "symbol": "AAPL",
        "quantity": "10",
        "filled_quantity": "10",
        "remaining_quantity": "0",
        "avg_fill_price": "100",
        "proposal_id": proposal.id,
        "external": False,
    }
    assert row["client_order_id"].startswith(f"ordertrail-{proposal.id}-ENTRY-")
    assert row["trade_id"] is not None and row["broker_status"] == "filled"

    traced = run(db, "trace", row["client_order_id"])
    assert traced.returncode == 0, traced.stderr
    assert "RECORDED" in traced.stdout and "FILLED" in traced.stdout
    assert run(db, "trace", "nope").returncode != 0

    synced = run(db, "sync", "--once", ORDERTRAIL_PAPER_ACCOUNT_ID="P1")
    assert synced.returncode == 0, synced.stderr


def test_an_alert_file_with_an_unusable_last_order_update_is_refused(tmp_path: Path) -> None:
    bad = {
        "TSLA": {
            "open": True,
            "alert_details": {"ticker": "TSLA"},
            "last_order_update": {
                "order_id": "1",
                "status": "FILLED",
                "filled_qty": "ten",
                "updated_at": "yesterday",
            },
        }
    }
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(bad))
    result = run(f"sqlite:///{tmp_path}/cli.db", "alerts", "import", str(source), "--source", "X")
    assert result.returncode != 0 and "TSLA" in result.stderr and "filled_qty" in result.stderr


def test_alerts_import_refuses_what_the_api_refuses_and_stores_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    source = tmp_path / "alerts.json"
    for entry, said in [
        ({"alert_details": {"strike": "1e999"}}, "out of range"),
        ({"alert_details": {"strike": {"x": 1}}}, "strike must be a number"),
        ({"open": "false"}, "open must be true or false"),
    ]:
        source.write_text(json.dumps({"TSLA": entry}))
        imported = run(db, "alerts", "import", str(source), "--source", "X")
        assert imported.returncode == 2 and said in imported.stderr, imported.stderr
        assert "Traceback" not in imported.stderr
    exported = tmp_path / "out.json"
    assert run(db, "alerts", "export", str(exported)).returncode == 0
    assert json.loads(exported.read_text()) == {}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("orders", "list", "--limit", "99999999999999999999"), "--limit"),
        (("trace", "99999999999999999999"), "no order with id"),
        (("alerts", "export", "/nonexistent/dir/out.json"), "cannot write"),
        (("alerts", "import", "{deep}", "--source", "X"), "nested too deeply"),
    ],
)
def test_bad_arguments_get_an_error_line_not_a_traceback(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    result = run(f"sqlite:///{tmp_path}/cli.db", *(a.format(deep=deep) for a in args))
    assert result.returncode == 2, result.stderr[-300:]
    assert said in result.stderr and "Traceback" not in result.stderr, result.stderr[-300:]


def test_a_bad_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path}/cli.db", "demo", ORDERTRAIL_POLL_INTERVAL_IDLE="abc")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "ORDERTRAIL_POLL_INTERVAL_IDLE" in result.stderr and "abc" not in result.stderr


def test_a_command_says_which_migrations_ran_and_nothing_else_of_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/cli.db"
    first = run(db, "orders", "list")
    assert first.returncode == 0, first.stderr
    assert "Running upgrade" in first.stderr  # a new database: its migrations are named
    again = run(db, "orders", "list")
    assert again.returncode == 0, again.stderr
    assert "Context impl" not in again.stderr and "Will assume" not in again.stderr
    assert "Running upgrade" not in again.stderr
