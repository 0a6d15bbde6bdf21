"""The hostile run (`make fuzz`): schemathesis against `make run`, once per role's token.

It starts the service exactly as `make run` does (demo data, embedded PostgreSQL unless
DATABASE_URL is set, the Stripe stand-in, one job worker), in a fresh data directory of its own
so each run starts from the demo, reads the tokens the demo prints, and runs schemathesis with
every check, every phase (examples, coverage, fuzzing, stateful) and 100 examples per
operation: once per role, each run sending that role's token on every operation, then once
"by role" (each operation with the token of the role it is for), so the stateful phase can
follow the real workflow across roles (offer -> publish -> accept -> receipt -> revoke).

Rate limits are off for this service (RATE_LIMIT_*=0): the run is about what inputs do, and
429s would only hide operations from it; `tests/api/test_rate_limits.py` covers the limits.

It prints, per run, the operations tested, the test cases generated, the failures by kind, the
number of 5xx and of errors inside schemathesis itself, and exits 1 if any run met a 5xx (or
schemathesis could not run). Reports
(JSON, JUnit, and a pytest file reproducing failures) go under `--out`.

    .venv/bin/python fuzz/run.py [--examples 100] [--roles customer,partner,...] [--seed N]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
ROLES = ["customer", "partner", "operator", "regulator"]

# Which role each part of the API is for (the suite's contract test reads them the same way).
PREFIX_BY_ROLE = {
    "operator": "^/v1/admin",
    "partner": "^/v1/partner",
    "customer": "^/v1/me",
    "regulator": "^/v1/audit",
}

# The statuses schemathesis.toml in the project root accepts for schema-valid data; repeated
# query parameters in the coverage phase; stateful scenarios long enough for the workflow.
CONFIG_HEAD = """\
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]

[phases.coverage]
generate-duplicate-query-parameters = true

[phases.stateful]
max-steps = 20
"""

# Closing the account ends the customer's session for every later request of the run: that
# one operation is sent with a second demo customer's token, so the first stays open.
CLOSE_ACCOUNT = """
[[operations]]
include-path = "/v1/me"
include-method = "DELETE"
headers = {{ Authorization = "Bearer {token}" }}
"""


def start_service(port: int, stand_in_port: int, data_dir: Path, log: Path):
    env = dict(os.environ)
    env.update(
        PORT=str(port),
        STAND_IN_PORT=str(stand_in_port),
        DATA_DIR=str(data_dir),
        RATE_LIMIT_READS_PER_SECOND="0",
        RATE_LIMIT_WRITES_PER_SECOND="0",
    )
    env.pop("PUBLIC_URL", None)
    out = log.open("w")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"STAND_IN_PORT={stand_in_port}"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: make, the stand-in, uvicorn, worker
    )
    return proc


def stop_service(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def stop_embedded_database(data_dir: Path) -> None:
    """The embedded PostgreSQL outlives `make run` (a later run reuses it): stop this one."""
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return  # DATABASE_URL was set: not ours to stop
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
        while True:
            os.kill(pid, 0)
            time.sleep(0.2)
    except ProcessLookupError:
        return


def wait_ready(proc, base: str, log: Path) -> dict[str, str]:
    """Wait until /ready answers, then read the demo's printed tokens from the log."""
    while True:
        if proc.poll() is not None:
            sys.exit(f"fuzz: `make run` exited ({proc.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        time.sleep(0.5)
    tokens: dict[str, str] = {}
    customers = []
    for line in log.read_text().splitlines():
        # "  <who>  [<id>]  <token>", as `make run` prints them (an id beside all but the operator)
        m = re.match(
            r"^  (operator|partner|customer \S+|regulator \(\w+\))\s+(?:\S+_\S+\s+)?(ey\S+)$", line
        )
        if not m:
            continue
        who, token = m.groups()
        if who.startswith("customer"):
            customers.append(token)
        else:
            tokens[who.split()[0]] = token
    tokens["customer"], tokens["customer_closing"] = customers[0], customers[1]
    return tokens


def config_for(run: str, tokens: dict[str, str]) -> str:
    text = ""
    if run != "by-role":
        text += f'headers = {{ Authorization = "Bearer {tokens[run]}" }}\n\n'
    text += CONFIG_HEAD
    if run in ("customer", "by-role"):  # the first matching entry wins: this one goes first
        text += CLOSE_ACCOUNT.format(token=tokens["customer_closing"])
    if run == "by-role":
        for role, prefix in PREFIX_BY_ROLE.items():
            text += (
                f'\n[[operations]]\ninclude-path-regex = "{prefix}"\n'
                f'headers = {{ Authorization = "Bearer {tokens[role]}" }}\n'
            )
    return text


def run_schemathesis(run: str, base: str, tokens, args, out: Path) -> dict:
    where = out / run
    where.mkdir(parents=True, exist_ok=True)
    config = where / "schemathesis.toml"
    config.write_text(config_for(run, tokens))
    command = [
        str(VENV / "schemathesis"),
        "--config-file",
        str(config),
        "run",
        f"{base}/schema/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(args.examples),
        "--workers",
        str(args.workers),
        "--report",
        "json,junit,pytest",
        "--report-dir",
        str(where),
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    env = dict(os.environ, SCHEMATHESIS_HOOKS="fuzz.hooks", PYTHONPATH=str(ROOT))
    started = time.monotonic()
    with (where / "output.txt").open("w") as output:
        code = subprocess.call(command, cwd=where, env=env, stdout=output, stderr=output)
    reports = sorted(glob.glob(str(where / "json-*.json")))
    if not reports:
        return {"run": run, "error": f"schemathesis exited {code}; see {where / 'output.txt'}"}
    report = json.loads(Path(reports[-1]).read_text())
    failures = {f["title"]: f["count"] for f in report["failures"]}
    server_errors = sum(
        f["count"] for f in report["failures"] if f["type"] in ("ServerError", "server_error")
    )
    return {
        "run": run,
        "seed": report["seed"],
        "seconds": round(time.monotonic() - started),
        "operations": report["operations"]["tested"],
        "generated": report["test_cases"]["generated"],
        "with_failures": report["test_cases"]["with_failures"],
        "unique_failures": report["test_cases"]["unique_failures"],
        "errors": len(report["errors"]),
        "server_errors": server_errors,
        "failures": failures,
        "failing_operations": {f["title"]: f["operations"] for f in report["failures"]},
        "output": str(where / "output.txt"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="per operation (default 100)")
    parser.add_argument("--roles", default=",".join([*ROLES, "by-role"]))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8110")))
    parser.add_argument("--stand-in-port", type=int, default=8111)
    parser.add_argument("--out", type=Path, default=ROOT / "fuzz" / "report")
    args = parser.parse_args()
    runs = [r.strip() for r in args.roles.split(",") if r.strip()]
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)

    data_dir = Path(tempfile.mkdtemp(prefix="fuzz-data-"))
    log = args.out / "service.log"
    base = f"http://127.0.0.1:{args.port}"
    proc = start_service(args.port, args.stand_in_port, data_dir, log)
    results = []
    try:
        tokens = wait_ready(proc, base, log)
        for run in runs:
            print(f"fuzz: {run} ...", flush=True)
            result = run_schemathesis(run, base, tokens, args, args.out)
            results.append(result)
            print(json.dumps(result, indent=1), flush=True)
            if proc.poll() is not None:
                sys.exit(f"fuzz: the service died during the {run} run; see {log}")
    finally:
        stop_service(proc)
        stop_embedded_database(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)

    (args.out / "summary.json").write_text(json.dumps(results, indent=1))
    print(
        "\nrun        operations  generated  failing cases  unique failures  5xx"
        "  tool errors  seconds"
    )
    for r in results:
        if "error" in r:
            print(f"{r['run']:<10} {r['error']}")
            continue
        print(
            f"{r['run']:<10} {r['operations']:>10}  {r['generated']:>9}  {r['with_failures']:>13}"
            f"  {r['unique_failures']:>15}  {r['server_errors']:>3}  {r['errors']:>11}"
            f"  {r['seconds']:>7}"
        )
    # Tool errors (schemathesis failing inside itself) are listed, not counted as the API's.
    bad = [r for r in results if "error" in r or r["server_errors"]]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
