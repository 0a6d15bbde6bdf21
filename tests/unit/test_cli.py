"""The `marketplace` command as a person meets it: help for every command and argument, a
version, and one line (never a traceback) for a missing file or a bad value."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from marketplace.cli import build_parser
from tests.conftest import ROOT


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "marketplace.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )


def subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name), sub
                yield from subcommands(sub)


def test_every_command_has_a_sentence_and_every_argument_help():
    commands = list(subcommands(build_parser()))
    assert {"run", "serve", "migrate", "worker", "token", "audit", "verify"} <= {
        n for n, _, _ in commands
    }
    for name, help_text, sub in commands:
        assert help_text and len(help_text.split()) >= 3, name
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}"
    top = cli("--help").stdout
    for name, _, _ in commands:
        # listed under their command
        if name not in ("seal", "verify", "check", "explain", "rotate", "list"):
            assert name in top, name


def test_version():
    run = cli("--version")
    assert run.returncode == 0 and run.stdout.startswith("marketplace 0.")


def test_token_ttl_must_be_positive():
    for ttl in ("0", "-5", "soon"):
        run = cli("token", "--role", "operator", "--sub", "x", "--ttl", ttl)
        assert run.returncode == 2 and "--ttl" in run.stderr and "Traceback" not in run.stderr


def test_missing_files_and_bad_values_are_one_line(tmp_path):
    env = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    for args in (
        ("ingest", str(tmp_path / "missing.jsonl")),
        ("import-package", str(tmp_path / "missing.pkg"), "--external-ref", "r"),
        ("rules", "check", "--dir", str(tmp_path / "no-rules")),
        ("migrate",),  # nothing listens there
    ):
        run = cli(*args, env=env)
        assert run.returncode in (1, 2), (args, run.stderr)
        assert "Traceback" not in run.stderr, (args, run.stderr)
        assert len(run.stderr.strip().splitlines()) == 1, (args, run.stderr)
    run = cli("migrate", env={"PORT": "eighty"})
    assert run.returncode == 2 and run.stderr.strip() == (
        "marketplace: PORT='eighty' is not allowed: an integer from 1 to 65535"
    )


def test_reconcile_says_when_stripe_knows_none_of_the_paid_payouts():
    from ledger import Difference
    from marketplace.cli import fresh_stripe_hint

    def missing(pid: str) -> Difference:
        return Difference(problem="missing_in_stripe", subject=pid, detail="ledger paid 1 EUR")

    base = "http://127.0.0.1:12111"
    hint = fresh_stripe_hint([missing("po_1"), missing("po_2")], base)
    assert hint is not None and "fresh Stripe stand-in" in hint and base in hint
    other = Difference(problem="amount_mismatch", subject="po_3", detail="x")
    assert fresh_stripe_hint([missing("po_1"), other], base) is None  # a real difference
    assert fresh_stripe_hint([missing("po_1")], base) is None  # one payout: just say it
