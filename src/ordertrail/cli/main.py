"""The `ordertrail` command: thin wrappers over bootstrap and the services."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ordertrail.bootstrap import App, bootstrap
from ordertrail.errors import OrdertrailError
from ordertrail.settings import Settings

cli = typer.Typer(
    help="ordertrail: the broker as the source of truth for order status.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database commands.", no_args_is_help=True)
orders_cli = typer.Typer(help="Orders.", no_args_is_help=True)
alerts_cli = typer.Typer(help="Alerts in the alerters' JSON format.", no_args_is_help=True)
accounts_cli = typer.Typer(help="Broker accounts kept in the database.", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(orders_cli, name="orders")
cli.add_typer(alerts_cli, name="alerts")
cli.add_typer(accounts_cli, name="accounts")
out = Console()
err = Console(stderr=True)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _settings() -> Settings:  # type: ignore[return]
    try:
        return Settings()
    except ValidationError as error:  # name each bad variable, never repeat its value
        problems = "; ".join(
            f"ORDERTRAIL_{'_'.join(str(part) for part in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        _fail(f"unusable setting: {problems}")


def _app(**kwargs: Any) -> App:  # type: ignore[return]
    try:
        return bootstrap(_settings(), **kwargs)
    except OrdertrailError as error:
        _fail(str(error))
    except Exception as error:  # the database or a setting is unusable: say which
        _fail(
            f"cannot start: {type(error).__name__}: {error}\n"
            "check ORDERTRAIL_DATABASE_URL (default sqlite:///./ordertrail.db)"
        )


def _fail(message: str) -> Any:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(2)


def _need_brokers(app: App) -> None:
    if not app.brokers:
        _fail(
            "no broker account is configured: set ORDERTRAIL_TRADIER_ACCOUNT_ID (+ "
            "ORDERTRAIL_TRADIER_ACCESS_TOKEN), ORDERTRAIL_IBKR_ACCOUNT_ID, "
            "ORDERTRAIL_TWS_ACCOUNT_ID or ORDERTRAIL_PAPER_ACCOUNT_ID"
        )


def _claim(app: App) -> None:
    try:
        app.claim_leases()
    except OrdertrailError as error:
        _fail(str(error))


def _safe_host(host: str, settings: Settings) -> str:
    if settings.api_token_value() or host in LOOPBACK:
        return host
    err.print(f"[yellow]ORDERTRAIL_API_TOKEN is not set: listening on 127.0.0.1, not {host}.[/]")
    return "127.0.0.1"


Port = Annotated[int, typer.Option(min=1, max=65535, help="TCP port to listen on.")]


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless a token is set).")] = (
        "127.0.0.1"
    ),
    port: Port = 8000,
    no_watchers: Annotated[bool, typer.Option("--no-watchers")] = False,
) -> None:
    """Run the API, the pages and (unless --no-watchers) the broker watchers."""
    import uvicorn

    from ordertrail.api.app import create_app

    app = _app()
    if not no_watchers:
        _claim(app)
    host = _safe_host(host, app.settings)
    if not app.settings.api_token_value():
        err.print(
            "No ORDERTRAIL_API_TOKEN: writes are open, so ordertrail listens on loopback only."
        )
    out.print(f"ordertrail on http://{_shown(host)}:{port}/  (API docs at /docs)")
    api = create_app(app, run_watchers=not no_watchers)
    _freeze_startup_objects()
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=3,
    )


@cli.command()
def demo(
    port: Port = 8000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    step: Annotated[float, typer.Option(min=0.05, help="Seconds between broker steps.")] = 1.5,
) -> None:
    """Run the demo: a fresh SQLite file, the paper broker, proposals and alerts moving."""
    from ordertrail.demo import run_demo

    run_demo(host=_safe_host(host, _settings()), port=port, step_s=step)


def _freeze_startup_objects() -> None:
    """Keep what startup built (modules, tables, routes, models) out of every later garbage
    collection: a full collection then walks only what the server made since, instead of
    stopping every thread for tens of milliseconds while a stream is busy."""
    gc.collect()
    gc.freeze()


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@cli.command()
def worker() -> None:
    """Run the broker watchers only (no HTTP)."""
    app = _app()
    _need_brokers(app)
    _claim(app)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(app.run_watchers())


@cli.command()
def sync(once: Annotated[bool, typer.Option("--once", help="Poll once and exit.")] = False) -> None:
    """Poll and reconcile every configured account (once with --once)."""
    if not once:
        worker()
        return
    from ordertrail.services.sync import sync_account

    app = _app()
    _need_brokers(app)

    async def run() -> int:
        failures = 0
        for key, broker in app.brokers.items():
            try:
                result = await sync_account(broker, app.applier, app.uow, app.clock)
                # A run of one sync proves no lost placement absent (`shown_absent`): only
                # those never sent are placed.
                await app.placer.resume(broker.name, broker.account_id)
            except OrdertrailError as error:
                err.print(f"[red]{key}[/red]: {error}")
                failures += 1
                continue
            out.print(
                f"{key}: {result.orders_examined} orders examined, "
                f"{result.applied.events} events, {result.fill_events_processed} fills"
            )
        await app.aclose()
        return failures

    raise typer.Exit(1 if asyncio.run(run()) else 0)


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database schema."""
    from ordertrail.storage import migrate

    app = _app(upgrade=False, brokers={})
    revision = migrate.upgrade(app.engine)
    out.print(f"database at revision {revision}")


@cli.command()
def backfill() -> None:
    """Turn legacy trades' broker order ids into order rows (safe to run again)."""
    from rich.progress import Progress

    from ordertrail.services.backfill import backfill_legacy_orders

    app = _app(brokers={})
    with Progress(console=err) as progress:
        task = progress.add_task("backfilling", total=None)
        created = backfill_legacy_orders(
            app.uow,
            app.clock,
            lambda done, total: progress.update(task, completed=done, total=total),
        )
    out.print(f"{created} order rows created")


@orders_cli.command("list")
def orders_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="At most this many.")] = 500,
) -> None:
    """List orders, newest first."""
    from ordertrail.services.queries import list_orders

    app = _app(brokers={})
    with app.engine.connect() as connection:
        rows = list_orders(connection, limit)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(
        "id", "broker", "broker id", "client id", "side", "status", "symbol", "filled", "avg", "ext"
    )
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["broker"],
            r["broker_order_id"] or "",
            r["client_order_id"] or "",
            r["side"] or "",
            r["status"],
            r["option_symbol"] or r["symbol"] or "",
            f"{r['filled_quantity']}/{r['quantity'] or '?'}",
            r["avg_fill_price"] or "",
            "yes" if r["external"] else "",
        )
    out.print(table)


@cli.command()
def trace(order: str) -> None:
    """Show an order's events in order, with raw payloads (id, broker id or client id)."""
    from ordertrail.services.queries import find_order, order_timeline

    app = _app(brokers={})
    try:
        with app.engine.connect() as connection:
            found = find_order(connection, order)
            events = order_timeline(connection, found["id"])
    except OrdertrailError as error:
        _fail(str(error))
    out.print(
        f"order {found['id']} {found['broker']} {found['broker_order_id'] or '-'} "
        f"{found['client_order_id'] or '-'} {found['status']}"
    )
    for e in events:
        out.print(
            f"{e['seq']:>3} {e['recorded_at']} {e['kind']:<17} {e['status_after']:<9} "
            f"{e['message']} [{e['source']}]"
        )
        if e["payload"] is not None:
            out.print("      " + json.dumps(e["payload"]), markup=False, highlight=False)


@alerts_cli.command("import")
def alerts_import(file: Path, source: Annotated[str | None, typer.Option()] = None) -> None:
    """Import an alerter's file (or several alerters' in one file keyed by name)."""
    from ordertrail.services.alerts_io import import_alerts
    from ordertrail.services.changes import Changed

    app = _app(brokers={})
    try:
        document = json.loads(file.read_text())
        imported = import_alerts(app.uow(), document, app.clock, source)
    except RecursionError:
        _fail(f"{file}: nested too deeply to be an alerts file")
    except (OSError, ValueError, OrdertrailError) as error:
        _fail(f"{file}: {error}")
    app.applier.tell(Changed(alert_ids=imported.alert_ids))  # running servers' pages (PostgreSQL)
    for name, count in imported.counts.items():
        out.print(f"{name}: {count} alerts")


@alerts_cli.command("export")
def alerts_export(file: Path, source: Annotated[str | None, typer.Option()] = None) -> None:
    """Write alerts back in the alerters' format, with their last order updates."""
    from ordertrail.services.alerts_io import export_alerts

    app = _app(brokers={})
    try:
        file.write_text(json.dumps(export_alerts(app.uow(), source), indent=2) + "\n")
    except OSError as error:
        _fail(f"cannot write {file}: {error.strerror or error}")
    out.print(f"wrote {file}")


@accounts_cli.command("add")
def accounts_add(
    broker: str,
    account_id: str,
    token_env: Annotated[
        str | None, typer.Option(help="Name of an environment variable holding the token.")
    ] = None,
    setting: Annotated[list[str] | None, typer.Option(help="NAME=VALUE, repeatable.")] = None,
    label: str | None = None,
) -> None:
    """Add (or replace) a broker account for the workers; the token is read from a variable."""
    from ordertrail.broker_factory import AccountSpec
    from ordertrail.services.accounts import add_account

    credentials = None
    if token_env:
        credentials = os.environ.get(token_env)
        if not credentials:
            _fail(f"environment variable {token_env} is empty or not set")
    options: dict[str, Any] = {}
    for item in setting or []:
        name, sep, value = item.partition("=")
        if not sep:
            _fail(f"--setting {item!r}: write NAME=VALUE")
        options[name] = {"true": True, "false": False}.get(value.lower(), value)
    app = _app(brokers={})
    try:
        new = add_account(
            app.engine, AccountSpec(broker, account_id, credentials, options), app.clock, label
        )
    except OrdertrailError as error:
        _fail(str(error))
    out.print(f"{broker}:{account_id} {'added' if new else 'updated'}")


@accounts_cli.command("list")
def accounts_list() -> None:
    """List stored accounts (tokens are never shown)."""
    from ordertrail.services.accounts import list_accounts

    app = _app(brokers={})
    sys.stdout.write(json.dumps(list_accounts(app.engine), indent=2) + "\n")


@accounts_cli.command("remove")
def accounts_remove(broker: str, account_id: str) -> None:
    """Forget a stored account (its orders stay)."""
    from ordertrail.services.accounts import remove_account

    app = _app(brokers={})
    try:
        remove_account(app.engine, broker, account_id)
    except OrdertrailError as error:
        _fail(str(error))
    out.print(f"{broker}:{account_id} removed")


def _migrations_run(record: logging.LogRecord) -> bool:
    """Keep Alembic's lines about migrations run, not its every-start preamble."""
    return not record.getMessage().startswith(("Context impl", "Will assume"))


def main() -> None:
    """Run the CLI; an error no command foresaw is one line on stderr (exit 2), not a
    traceback (set ORDERTRAIL_TRACEBACK=1 to see it)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic names its dialect and DDL mode at every start; only a migration that runs says
    # anything worth reading ("Running upgrade ...").
    logging.getLogger("alembic.runtime.migration").addFilter(_migrations_run)
    try:
        cli(standalone_mode=True)
    except Exception as error:
        if os.environ.get("ORDERTRAIL_TRACEBACK"):
            raise
        err.print(f"[red]error:[/red] {escape(f'{type(error).__name__}: {error}')}")
        sys.exit(2)
