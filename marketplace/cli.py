"""The `marketplace` command: run, migrate, worker, demo and token."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from .config import SettingInvalid, Settings

if TYPE_CHECKING:  # the HTTP edge is imported only by the commands that need it
    from .http import Role


def _database_url(settings: Settings) -> str:
    from .db import embedded_database_url

    return settings.database_url or embedded_database_url(settings.data_dir)


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
    rows = [
        ("operator", _token(settings, "operator", "op_demo", ttl=ttl)),
        ("partner", _token(settings, "partner", ids["partner"], ttl=ttl)),
        *(
            (f"customer {ref}", _token(settings, "customer", customer_id, ttl=ttl))
            for ref, customer_id in ids["customers"].items()
        ),
        ("regulator (DE)", _token(settings, "regulator", "reg_de_bfdi", ["DE"], ttl=ttl)),
    ]
    for who, token in rows:
        print(f"  {who:<24} {token}")
    print()
    print(f"Try: curl -H 'Authorization: Bearer <customer token>' {base}/v1/me/offers\n")
    sys.stdout.flush()


def cmd_run(settings: Settings, args) -> None:
    import uvicorn

    url = _database_url(settings)
    settings = replace(settings, database_url=url)
    ids = asyncio.run(_demo(settings, settle=True))
    _print_demo(settings, ids, ttl=24 * 3600)
    if "payouts" in ids:
        print(
            f"Settlement: {ids['payouts']} payout(s) queued; the worker pays them through "
            f"{settings.stripe_api_base} — see /v1/me/earnings.\n"
        )
    # Workers build their own app from the environment; hand them the resolved database.
    os.environ["DATABASE_URL"] = url
    os.environ["API_PROCESSES"] = str(args.workers)  # each enforces its share of rate limits
    jobs = None
    if args.jobs:  # one background worker beside the API, so expiry and other jobs run
        jobs = subprocess.Popen([sys.executable, "-m", "marketplace.cli", "worker"])
    try:
        uvicorn.run(
            "marketplace.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=args.workers,
            log_level="warning",
            access_log=False,
        )
    finally:
        if jobs is not None:
            jobs.terminate()
            jobs.wait(timeout=10)


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
    if differences:
        sys.exit(1)


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="marketplace", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="migrate, load demo data, print tokens and serve the API")
    run.add_argument("--workers", type=int, default=1, help="API processes")
    run.add_argument(
        "--no-jobs",
        dest="jobs",
        action="store_false",
        help="do not start a background job worker beside the API",
    )
    run.set_defaults(func=cmd_run)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("worker", help="run background jobs").set_defaults(func=cmd_worker)
    sub.add_parser("settle", help="turn customers' earnings into payouts").set_defaults(
        func=cmd_settle
    )
    sub.add_parser(
        "reconcile", help="compare every payout in the ledger with Stripe; exit 1 on differences"
    ).set_defaults(func=cmd_reconcile)

    demo = sub.add_parser("demo", help="load demo data (once) and print demo tokens")
    demo.add_argument("--ttl", type=int, default=24 * 3600)
    demo.set_defaults(func=cmd_demo)

    token = sub.add_parser("token", help="print a token signed with the local key")
    token.add_argument(
        "--role", required=True, choices=["operator", "partner", "customer", "regulator"]
    )
    token.add_argument("--sub", required=True)
    token.add_argument("--jurisdictions", help="comma-separated, for a regulator: DE,FR")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=cmd_token)

    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser(
        "seal", help="seal pending entries now and publish a checkpoint"
    ).set_defaults(func=cmd_audit_seal)
    verify = audit_sub.add_parser(
        "verify", help="verify the log over the public API (exit 1 and the first bad entry)"
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

    keys = sub.add_parser("keys", help="the signing keys (receipts, exports, checkpoints)")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    keys_sub.add_parser(
        "rotate",
        help="make a new active signing key; the old one is retired and stays published",
    ).set_defaults(func=cmd_keys_rotate)
    keys_sub.add_parser(
        "list", help="every signing key of the database: active, then retired"
    ).set_defaults(func=cmd_keys_list)

    ingest = sub.add_parser("ingest", help="bulk-load records from a JSON-lines file (COPY)")
    ingest.add_argument(
        "file", help="one JSON object a line: customer_id, category, recorded_at, payload, source"
    )
    ingest.set_defaults(func=cmd_ingest)

    rules = sub.add_parser("rules", help="the jurisdiction rule bundle")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="validate the rules and print the bundle version")
    check.add_argument("--dir", help="a rules directory other than the shipped one")
    check.set_defaults(func=cmd_rules_check)
    explain = rules_sub.add_parser("explain", help="decide one request now and print why")
    explain.add_argument("--customer", required=True)
    explain.add_argument("--partner", required=True)
    explain.add_argument("--category", required=True)
    explain.add_argument("--purpose", required=True)
    explain.set_defaults(func=cmd_rules_explain)

    imp = sub.add_parser(
        "import-package", help="import a customer's export package from a trusted operator"
    )
    imp.add_argument("file")
    imp.add_argument("--external-ref", required=True)
    imp.add_argument("--jurisdiction", default=None)
    imp.set_defaults(func=cmd_import_package)

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingInvalid as e:
        print(f"marketplace: {e}", file=sys.stderr)
        sys.exit(2)
    from .logs import configure_logging

    configure_logging(json=settings.log_json)
    from .keys import KeyLifecycleError

    try:
        args.func(settings, args)
    except KeyLifecycleError as e:
        print(f"marketplace: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
