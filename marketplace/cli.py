"""The `marketplace` command: the demo, the production server, its jobs and its tools."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, NoReturn

from .config import SettingInvalid, Settings

if TYPE_CHECKING:  # the HTTP edge is imported only by the commands that need it
    from .http import Role


def _database_url(settings: Settings) -> str:
    from .bootstrap import database_url

    return database_url(settings)


def _keys(settings: Settings):
    from .bootstrap import load_keys

    keys = load_keys(settings)
    if keys.provisional:  # a token signed with a key nobody knows would verify nowhere
        print(
            f"marketplace: no signing key at {settings.key_file} (SIGNING_KEY_FILE); start the "
            "service once (`make run`) or run `marketplace keys rotate`",
            file=sys.stderr,
        )
        sys.exit(2)
    return keys


def _token(settings: Settings, role: Role, sub: str, jurisdictions=(), ttl: int = 3600) -> str:
    from .http import issue_token

    return issue_token(
        _keys(settings),
        issuer=settings.local_issuer,
        audience=settings.jwt_audience,
        role=role,
        sub=sub,
        jurisdictions=tuple(jurisdictions),
        ttl=ttl,
    )


async def _migrate(url: str) -> list[str]:
    from .db import migrate

    return await migrate(url)


async def _demo(settings: Settings, settle: bool = False) -> dict:
    from .bootstrap import open_services
    from .demo import load_demo

    async with open_services(settings, max_size=4) as services:
        ids = await load_demo(services.consent, services.access, services.ledger)
        if settle and settings.stripe_api_base:
            # A Stripe (or a local stand-in) is configured: settle now; the worker pays out.
            ids["payouts"] = len(await services.payouts.settle())
        return ids


def cmd_migrate(settings: Settings, args) -> None:
    applied = asyncio.run(_migrate(_database_url(settings)))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


def cmd_token(settings: Settings, args) -> None:
    jurisdictions = [j.strip().upper() for j in (args.jurisdictions or "").split(",") if j.strip()]
    if not 1 <= args.ttl <= settings.token_max_lifetime_seconds:
        print(
            f"marketplace: --ttl must be 1..{settings.token_max_lifetime_seconds} seconds "
            "(TOKEN_MAX_LIFETIME_SECONDS)",
            file=sys.stderr,
        )
        sys.exit(2)
    print(_token(settings, args.role, args.sub, jurisdictions, args.ttl))


def cmd_demo(settings: Settings, args) -> None:
    ids = asyncio.run(_demo(settings))
    _print_demo(settings, ids, ttl=args.ttl)


def _print_demo(settings: Settings, ids: dict, ttl: int) -> None:
    base = settings.public_url
    print(f"\nAPI:  {base}\nDocs: {base}/schema  (Authorize with a token below)\n")
    print(f"Demo tokens (valid {ttl // 3600} h):")
    tokens = {
        "operator": _token(settings, "operator", "op_demo", ttl=ttl),
        "partner": _token(settings, "partner", ids["partner"], ttl=ttl),
        **{
            ref: _token(settings, "customer", customer_id, ttl=ttl)
            for ref, customer_id in ids["customers"].items()
        },
        "regulator": _token(settings, "regulator", "reg_de_bfdi", ["DE"], ttl=ttl),
    }
    rows = [
        ("operator", "", tokens["operator"]),
        ("partner", ids["partner"], tokens["partner"]),
        *((f"customer {ref}", cid, tokens[ref]) for ref, cid in ids["customers"].items()),
        ("regulator (DE)", "reg_de_bfdi", tokens["regulator"]),
    ]
    for who, sub, token in rows:
        print(f"  {who:<22} {sub:<34} {token}")
    print("\nDemo ids:")
    print(f"  partner {ids['partner']} (Acme Mobility Insights): funded, holds grants")
    for offer_id, offer in ids.get("offers", {}).items():
        who = ", ".join(offer["eligible"]) or "no demo customer now"
        print(f"  offer   {offer_id} ({offer['title']}): can be accepted by {who}")
    walk = _walkthrough(ids)
    if walk is not None:
        ref, offer_id = walk
        print("\nFor the README walkthrough, paste into a shell:")
        print(
            f"  export C={tokens[ref]} P={tokens['partner']} R={tokens['regulator']} "
            f"OFFER={offer_id} CUSTOMER={ids['customers'][ref]} API={base}"
        )
    print(f"\nTry: curl -H 'Authorization: Bearer <customer token>' {base}/v1/me/offers\n")
    sys.stdout.flush()


def _walkthrough(ids: dict) -> tuple[str, str] | None:
    """A customer and an offer for aggregated analytics they may accept now (the README's)."""
    for offer_id, offer in ids.get("offers", {}).items():
        if offer["eligible"] and "aggregated_analytics" in offer["purposes"]:
            return offer["eligible"][0], offer_id
    return None


def _serve_processes(settings: Settings, workers: int, jobs: bool) -> None:
    """The API in `workers` processes (uvicorn) and, with `jobs`, one job worker process
    beside them, restarted if it dies; all stop together."""
    import signal
    import threading

    import structlog
    import uvicorn

    log = structlog.get_logger("marketplace.supervisor")

    # Every process builds its own app from the environment: hand them the resolved values.
    os.environ["DATABASE_URL"] = settings.database_url or ""
    os.environ["API_PROCESSES"] = str(workers)  # each enforces its share of rate limits
    stopping = threading.Event()
    spawning = threading.Lock()  # no worker starts once stopping has begun
    job_process: list[subprocess.Popen] = []

    def keep_jobs_running() -> None:
        while True:
            with spawning:
                if stopping.is_set():
                    return
                # Its own session: a terminal's Ctrl-C stops the API, whose shutdown then
                # stops the worker (not both at once, which would look like a crash here).
                p = subprocess.Popen(
                    [sys.executable, "-m", "marketplace.cli", "worker"], start_new_session=True
                )
                job_process[:] = [p]
            log.info("job_worker_started", pid=p.pid)
            code = p.wait()
            if not stopping.is_set():
                log.warning("job_worker_died", pid=p.pid, exit_code=code, replacing=True)
                stopping.wait(1.0)

    # uvicorn re-raises the signal that stopped it once it has shut down: SIGTERM then exits
    # here too, through every `finally` (the job worker, the embedded PostgreSQL), not at once.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    supervisor = threading.Thread(target=keep_jobs_running, daemon=True) if jobs else None
    if supervisor is not None:
        supervisor.start()
    from .supervisor import serve

    try:
        # Our supervisor logs each API worker's death and replacement; log_config=None keeps
        # our JSON logging in place (uvicorn's own would print plain text).
        serve(
            uvicorn.Config(
                "marketplace.app:app_from_env",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=workers,
                log_level="warning",
                log_config=None,
                access_log=False,
                proxy_headers=True,
            )
        )
    finally:
        with spawning:
            stopping.set()
        for p in job_process:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def _metrics_dir() -> str:
    """A fresh directory the API processes share their Prometheus counters in (an
    operator's own PROMETHEUS_MULTIPROC_DIR is used as given)."""
    import atexit
    import shutil
    import tempfile

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = tempfile.mkdtemp(prefix="marketplace-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return os.environ["PROMETHEUS_MULTIPROC_DIR"]


def cmd_run(settings: Settings, args) -> None:
    _metrics_dir()  # before anything imports prometheus_client
    if settings.database_url is not None:
        _run_demo(settings, args)
        return
    from .embedded import owned

    with owned(settings.data_dir) as url:  # stopped when the demo stops
        _run_demo(replace(settings, database_url=url), args)


def _run_demo(settings: Settings, args) -> None:
    ids = asyncio.run(_demo(settings, settle=True))
    _print_demo(settings, ids, ttl=24 * 3600)
    if "payouts" in ids:
        print(
            f"Settlement: {ids['payouts']} payout(s) queued; the worker pays them through "
            f"{settings.stripe_api_base} — see /v1/me/earnings.\n"
        )
    sys.stdout.flush()
    _serve_processes(settings, args.workers, args.jobs)


def cmd_serve(settings: Settings, args) -> None:
    from .production import unsafe_setting

    reason = unsafe_setting(settings)
    if reason is not None:
        _fail(f"refusing to serve: {reason}")
    _metrics_dir()
    workers = args.workers or settings.api_processes
    applied = asyncio.run(_migrate(_database_url(settings)))  # once, before any API process
    print(
        f"marketplace: serving on {settings.host}:{settings.port} ({settings.public_url}) with "
        f"{workers} API process(es){' and a job worker' if args.jobs else ''}; "
        f"{len(applied)} migration(s) applied",
        file=sys.stderr,
        flush=True,
    )
    _serve_processes(settings, workers, args.jobs)


def cmd_embedded(settings: Settings, args) -> None:
    from .embedded import running_pid, stop

    pid = running_pid(settings.data_dir)
    if args.action == "status":
        print(f"running (pid {pid})" if pid else "not running")
        return
    print("stopped" if stop(settings.data_dir) else "not running")


async def _payouts(settings: Settings, action: str):
    from .bootstrap import open_services

    async with open_services(settings, max_size=4) as services:
        payouts = services.payouts
        return await (payouts.settle() if action == "settle" else payouts.reconcile())


def cmd_settle(settings: Settings, args) -> None:
    payouts = asyncio.run(_payouts(settings, "settle"))
    for p in payouts:
        print(f"{p.id} {p.kind} {p.amount} {p.currency} {p.status}")
    print(f"created {len(payouts)} payout(s); workers pay them through Stripe")


def cmd_reconcile(settings: Settings, args) -> None:
    from ledger import PaymentGatewayError

    try:
        differences = asyncio.run(_payouts(settings, "reconcile"))
    except PaymentGatewayError as e:
        print(f"cannot read Stripe: {e.detail}", file=sys.stderr)
        sys.exit(2)
    for d in differences:
        print(f"{d.problem}\t{d.subject}\t{d.detail}")
    print(f"{len(differences)} difference(s) between the ledger and Stripe")
    hint = fresh_stripe_hint(differences, settings.stripe_api_base)
    if hint:
        print(hint, file=sys.stderr)
    if differences:
        sys.exit(1)


def fresh_stripe_hint(differences, api_base: str | None) -> str | None:
    """When Stripe knows none of the paid payouts and nothing else differs, the likeliest
    cause is a Stripe that is not the one that paid them (a fresh stand-in, another
    account): say so, instead of leaving a person to read a list of missing payouts."""
    if len(differences) < 2 or any(d.problem != "missing_in_stripe" for d in differences):
        return None
    where = api_base or "Stripe"
    return (
        f"none of the {len(differences)} paid payouts is known to {where}: is it a fresh "
        "Stripe stand-in (its state file gone) or another Stripe account than the one that "
        "paid them?"
    )


async def _rotate(settings: Settings) -> tuple[str, str | None]:
    from .bootstrap import open_services

    async with open_services(settings, max_size=2) as services:
        return await services.key_lifecycle.rotate()


async def _list_keys(settings: Settings) -> list:
    from .bootstrap import open_services

    async with open_services(settings, max_size=2) as services:
        return await services.key_lifecycle.registered()


def cmd_keys_rotate(settings: Settings, args) -> None:
    new, retired = asyncio.run(_rotate(settings))
    print(f"active signing key: {new}")
    if retired:
        print(
            f"retired: {retired} (still published in the JWKS and /v1/audit/keys; its private "
            f"key was moved aside to {settings.key_file}.retired-{retired[:16]})"
        )
    print("restart the API processes and the worker so they sign with the new key")


def cmd_keys_list(settings: Settings, args) -> None:
    for k in asyncio.run(_list_keys(settings)):
        retired = f"  retired {k.retired_at.isoformat()}" if k.retired_at else ""
        print(f"{k.kid}  {k.status:<7}  created {k.created_at.isoformat()}{retired}")


def cmd_worker(settings: Settings, args) -> None:
    from .worker import main as worker_main

    worker_main(settings)


async def _seal(settings: Settings) -> dict:
    from .bootstrap import open_services

    async with open_services(settings, max_size=2) as services:
        result = await services.audit.seal()
        return {
            "sealed": result.sealed,
            "tree_size": result.tree_size,
            "checkpoints": result.checkpoints,
            "skipped": result.skipped,
        }


async def _import_package(settings: Settings, path: str, ref: str, jurisdiction):
    from .bootstrap import open_services

    async def chunks():
        with open(path, "rb") as f:  # noqa: ASYNC230 (a one-shot CLI, nothing else runs)
            while block := f.read(1 << 16):
                yield block

    async with open_services(settings, max_size=2) as services:
        return await services.dataspace.import_package(
            chunks(), external_ref=ref, jurisdiction=jurisdiction
        )


def cmd_audit_seal(settings: Settings, args) -> None:
    import json

    print(json.dumps(asyncio.run(_seal(settings))))


def cmd_audit_verify(settings: Settings, args) -> None:
    from .audit_verifier import run

    sys.exit(run(args))


def cmd_ingest(settings: Settings, args) -> None:
    from .ingest import ingest_file

    sys.exit(asyncio.run(ingest_file(settings, args.file)))


def cmd_rules_check(settings: Settings, args) -> None:
    from policies import RuleBundleInvalid, load_bundle

    try:
        bundle = load_bundle(args.dir) if args.dir else load_bundle()
    except RuleBundleInvalid as e:
        print(f"invalid rule bundle: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {len(bundle.rules)} rules, version {bundle.version}")
    for rule in bundle.rules:
        print(f"  {rule.id:<28} {rule.effect:<15} {','.join(rule.jurisdictions)[:40]}")


def cmd_rules_explain(settings: Settings, args) -> None:
    from .ingest import explain

    sys.exit(
        asyncio.run(explain(settings, args.customer, args.partner, args.category, args.purpose))
    )


def cmd_import_package(settings: Settings, args) -> None:
    import msgspec

    result = asyncio.run(_import_package(settings, args.file, args.external_ref, args.jurisdiction))
    print(msgspec.json.encode(result).decode())


def _positive(value: str) -> int:
    try:
        n = int(value, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return n


def _fail(message: str) -> NoReturn:
    print(f"marketplace: {message}", file=sys.stderr)
    sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import version

    parser = argparse.ArgumentParser(
        prog="marketplace",
        description="The consent marketplace: the service, its jobs and its tools. "
        "Settings come from the environment (see the README).",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version('consent-marketplace')}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, func, **kw) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", **kw)
        if func is not None:
            p.set_defaults(func=func)
        return p

    run = command(
        "run", "the demo: migrate, load demo data once, print tokens and ids, serve", cmd_run
    )
    run.add_argument("--workers", type=_positive, default=1, help="API processes (default 1)")
    run.add_argument(
        "--no-jobs",
        dest="jobs",
        action="store_false",
        help="do not start a background job worker beside the API",
    )

    serve = command(
        "serve",
        "production: refuse unsafe settings, migrate once, serve the API processes and a job "
        "worker",
        cmd_serve,
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="API processes (default: API_PROCESSES, which also splits the rate limits)",
    )
    serve.add_argument(
        "--no-jobs",
        dest="jobs",
        action="store_false",
        help="no job worker here (run `marketplace worker` under your process manager)",
    )

    command("migrate", "apply pending migrations (safe while other processes run)", cmd_migrate)
    command("worker", "run background jobs: expiry, sealing, payouts, webhooks", cmd_worker)
    command("settle", "turn customers' earnings into payouts now", cmd_settle)
    command(
        "reconcile",
        "compare every payout in the ledger with Stripe; exit 1 on a difference",
        cmd_reconcile,
    )

    demo = command("demo", "load the demo data (once) and print demo tokens and ids", cmd_demo)
    demo.add_argument("--ttl", type=_positive, default=24 * 3600, help="token lifetime in seconds")

    token = command("token", "print a token signed with the service's own key", cmd_token)
    token.add_argument(
        "--role",
        required=True,
        choices=["operator", "partner", "customer", "regulator"],
        help="the token's role",
    )
    token.add_argument("--sub", required=True, help="the subject: a partner or customer id")
    token.add_argument("--jurisdictions", help="comma-separated, for a regulator: DE,FR")
    token.add_argument(
        "--ttl",
        type=_positive,
        default=3600,
        help="lifetime in seconds, at most TOKEN_MAX_LIFETIME_SECONDS (default 3600)",
    )

    audit = command("audit", "seal the audit log now, or verify it over the public API", None)
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    audit_sub.add_parser(
        "seal",
        help="seal pending entries now and publish a checkpoint",
        description="Seal pending entries now and publish a checkpoint.",
    ).set_defaults(func=cmd_audit_seal)
    verify = audit_sub.add_parser(
        "verify",
        help="verify the log over the public API",
        description="Verify the log over the public API. Exit 0: verified; 1: a proven "
        "inconsistency (the report names the first bad entry); 2: nothing could be checked "
        "(refused token, missing checkpoint file, unreachable server), with the reason.",
    )
    verify.add_argument("--url", required=True, help="the API's base URL")
    verify.add_argument("--token", required=True, help="a regulator token")
    verify.add_argument(
        "--key",
        action="append",
        help="a pinned checkpoint verifier key; repeat it for the keys of earlier rotations "
        "(default: every key of GET /v1/audit/keys)",
    )
    verify.add_argument("--since-checkpoint", help="a checkpoint kept from an earlier run")
    verify.add_argument("--save-checkpoint", help="where to keep this checkpoint if it verifies")
    verify.set_defaults(func=cmd_audit_verify)

    keys = command("keys", "the signing keys (receipts, exports, checkpoints)", None)
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    keys_sub.add_parser(
        "rotate",
        help="make a new active signing key; the old one is retired and stays published",
        description="Make a new active signing key; the old one is retired and stays "
        "published (JWKS, /v1/audit/keys), so everything signed before still verifies.",
    ).set_defaults(func=cmd_keys_rotate)
    keys_sub.add_parser(
        "list",
        help="every signing key of the database: active, then retired",
        description="Every signing key of the database: active, then retired.",
    ).set_defaults(func=cmd_keys_list)

    ingest = command("ingest", "bulk-load records from a JSON-lines file (COPY)", cmd_ingest)
    ingest.add_argument(
        "file", help="one JSON object a line: customer_id, category, recorded_at, payload, source"
    )

    rules = command("rules", "check the jurisdiction rule bundle, or explain one decision", None)
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser(
        "check",
        help="validate the rules and print the bundle version",
        description="Validate the rules and print the bundle version.",
    )
    check.add_argument("--dir", help="a rules directory other than the shipped one")
    check.set_defaults(func=cmd_rules_check)
    explain = rules_sub.add_parser(
        "explain",
        help="decide one request now and print why (not recorded)",
        description="Decide one request now and print why (not recorded).",
    )
    explain.add_argument("--customer", required=True, help="the customer id")
    explain.add_argument("--partner", required=True, help="the partner id")
    explain.add_argument("--category", required=True, help="a data category, e.g. location")
    explain.add_argument("--purpose", required=True, help="a purpose, e.g. research")
    explain.set_defaults(func=cmd_rules_explain)

    imp = command(
        "import-package",
        "import a customer's export package from a trusted operator",
        cmd_import_package,
    )
    imp.add_argument("file", help="the package file, as the other operator's export produced it")
    imp.add_argument(
        "--external-ref", required=True, help="the customer's reference at this operator"
    )
    imp.add_argument(
        "--jurisdiction", default=None, help="the customer's country here, e.g. DE (default: kept)"
    )

    embedded = command(
        "embedded", "status or stop of the demo's embedded PostgreSQL under DATA_DIR", cmd_embedded
    )
    embedded.add_argument(
        "action", choices=["status", "stop"], help="status: is it running; stop: stop it"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingInvalid as e:
        _fail(str(e))
    from .logs import configure_logging

    configure_logging(json=settings.log_json)
    try:
        args.func(settings, args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        reason = _known_failure(e)
        if reason is None:
            raise
        _fail(f"{args.command}: {reason}")


def _known_failure(e: Exception) -> str | None:
    """One line for a failure a person can fix (a file, a value, the database), else None:
    anything else is a bug, and its traceback is what a report needs."""
    from sql import DatabaseError

    from .db import is_database_error
    from .embedded import EmbeddedInUse

    if isinstance(e, FileNotFoundError | IsADirectoryError | PermissionError):
        return f"{e.filename or ''}: {e.strerror}".lstrip(": ")
    if isinstance(e, ConnectionError | TimeoutError) or isinstance(e, OSError) and e.errno:
        return f"cannot reach the database or a service: {e}"
    if isinstance(e, EmbeddedInUse | DatabaseError) or is_database_error(e):
        return str(e) or type(e).__name__
    from .keys import KeyLifecycleError

    if isinstance(e, KeyLifecycleError):
        return str(e)
    if isinstance(e, UnicodeDecodeError):
        return f"not UTF-8 text: {e}"
    if isinstance(e, ValueError):
        return str(e)
    return None


if __name__ == "__main__":
    main()
