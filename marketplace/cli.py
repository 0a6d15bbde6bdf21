"""The `marketplace` command: run, migrate, worker, demo and token."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from .config import Settings


def _database_url(settings: Settings) -> str:
    from .db import embedded_database_url

    return settings.database_url or embedded_database_url(settings.data_dir)


def _keys(settings: Settings):
    from .keys import KeyRing

    return KeyRing.load(settings.key_file, settings.trusted_jwks_file, settings.accept_local_tokens)


def _token(settings: Settings, role: str, sub: str, jurisdictions=(), ttl: int = 3600) -> str:
    from .auth import issue_token

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


async def _demo(settings: Settings, url: str) -> dict:
    from offers import ConsentService, ReceiptSigner
    from policies import load_bundle

    from .db import create_pool, migrate

    await migrate(url)
    keys = _keys(settings)
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        consent = ConsentService(
            pool, ReceiptSigner(keys.private_key, keys.kid, settings.local_issuer), load_bundle()
        )
        from .demo import load_demo

        return await load_demo(consent)
    finally:
        await pool.close()


def cmd_migrate(settings: Settings, args) -> None:
    applied = asyncio.run(_migrate(_database_url(settings)))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none pending'}")


def cmd_token(settings: Settings, args) -> None:
    jurisdictions = [j.strip().upper() for j in (args.jurisdictions or "").split(",") if j.strip()]
    print(_token(settings, args.role, args.sub, jurisdictions, args.ttl))


def cmd_demo(settings: Settings, args) -> None:
    ids = asyncio.run(_demo(settings, _database_url(settings)))
    _print_demo(settings, ids, ttl=args.ttl)


def _print_demo(settings: Settings, ids: dict, ttl: int) -> None:
    base = settings.public_url
    print(f"\nAPI:  {base}\nDocs: {base}/schema  (Authorize with a token below)\n")
    print(f"Demo tokens (valid {ttl // 3600} h):")
    print(f"  operator            {_token(settings, 'operator', 'op_demo', ttl=ttl)}")
    print(f"  partner             {_token(settings, 'partner', ids['partner'], ttl=ttl)}")
    for ref, customer_id in ids["customers"].items():
        print(f"  customer {ref:<11}{_token(settings, 'customer', customer_id, ttl=ttl)}")
    regulator = _token(settings, "regulator", "reg_de_bfdi", ["DE"], ttl=ttl)
    print(f"  regulator (DE)      {regulator}\n")
    print(f"Try: curl -H 'Authorization: Bearer <customer token>' {base}/v1/me/offers\n")
    sys.stdout.flush()


def cmd_run(settings: Settings, args) -> None:
    import uvicorn

    url = _database_url(settings)
    ids = asyncio.run(_demo(settings, url))
    _print_demo(settings, ids, ttl=24 * 3600)
    # Workers build their own app from the environment; hand them the resolved database.
    os.environ["DATABASE_URL"] = url
    uvicorn.run(
        "marketplace.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
    )


def cmd_worker(settings: Settings, args) -> None:
    from .worker import main as worker_main

    worker_main(settings)


async def _import_package(settings: Settings, url: str, path: str, ref: str, jurisdiction):
    from .dataspace import DataSpaceService
    from .db import create_pool, migrate

    await migrate(url)
    keys = _keys(settings)
    pool = await create_pool(url, min_size=1, max_size=2)

    async def chunks():
        with open(path, "rb") as f:  # noqa: ASYNC230 (a one-shot CLI, nothing else runs)
            while block := f.read(1 << 16):
                yield block

    try:
        service = DataSpaceService(
            pool, private_key=keys.private_key, kid=keys.kid, issuer=settings.export_issuer,
            trusted_exporters=settings.trusted_exporters,
        )  # fmt: skip
        return await service.import_package(chunks(), external_ref=ref, jurisdiction=jurisdiction)
    finally:
        await pool.close()


def cmd_import_package(settings: Settings, args) -> None:
    import msgspec

    result = asyncio.run(_import_package(
        settings, _database_url(settings), args.file, args.external_ref, args.jurisdiction
    ))  # fmt: skip
    print(msgspec.json.encode(result).decode())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="marketplace", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="migrate, load demo data, print tokens and serve the API")
    run.add_argument("--workers", type=int, default=1)
    run.set_defaults(func=cmd_run)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("worker", help="run background jobs").set_defaults(func=cmd_worker)

    demo = sub.add_parser("demo", help="load demo data (once) and print demo tokens")
    demo.add_argument("--ttl", type=int, default=24 * 3600)
    demo.set_defaults(func=cmd_demo)

    token = sub.add_parser("token", help="print a token signed with the local key")
    token.add_argument("--role", required=True, choices=["operator", "partner", "customer",
                                                        "regulator"])  # fmt: skip
    token.add_argument("--sub", required=True)
    token.add_argument("--jurisdictions", help="comma-separated, for a regulator: DE,FR")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(func=cmd_token)

    imp = sub.add_parser(
        "import-package", help="import a customer's export package from a trusted operator"
    )
    imp.add_argument("file")
    imp.add_argument("--external-ref", required=True)
    imp.add_argument("--jurisdiction", default=None)
    imp.set_defaults(func=cmd_import_package)

    args = parser.parse_args(argv)
    args.func(Settings.from_env(), args)


if __name__ == "__main__":
    main()
