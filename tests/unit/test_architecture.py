"""The shape of the code, checked from its source: who may use asyncpg, what repositories
return, where services are built, the error contract, and that no SQL block is dead.

Pure and fast: the checks read the source's AST (only the error contract imports the code).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import grimp
import pytest

from sql import QUERIES_DIR, load_queries
from tests.architecture.import_contracts import PublicInitContract

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("marketplace", "offers", "ledger", "policies", "sql")
SERVICES = {
    "ConsentService",
    "DataAccessService",
    "DataSpaceService",
    "LedgerService",
    "PayoutService",
    "AuditService",
    "WebhookService",
}
COMPOSITION_ROOT = "marketplace/bootstrap.py"


def _modules(*top: str) -> list[Path]:
    return sorted(p for t in top for p in (ROOT / t).rglob("*.py") if ".venv" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _is_repository(path: Path) -> bool:
    return path.name == "repository.py" or path.name.endswith("_repository.py")


def _in_data_layer(path: Path) -> bool:
    rel = _rel(path)
    return _is_repository(path) or rel.startswith("sql/") or rel == "marketplace/db.py"


def _imports_asyncpg(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(n == "asyncpg" or n.startswith("asyncpg.") for n in names):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    "path", [p for p in _modules(*PACKAGES) if not _in_data_layer(p)], ids=_rel
)
def test_only_the_data_layer_imports_asyncpg(path):
    """Services, writers, helpers and the HTTP edge see Structs and a unit of work, never
    asyncpg (type hints included): only repositories, `sql/` and `marketplace/db.py` do."""
    assert _imports_asyncpg(_tree(path)) == [], f"{_rel(path)} imports asyncpg"


def _asyncpg_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """The names bound to the asyncpg module, and the names bound to asyncpg.Record."""
    modules, records = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "asyncpg":
                    modules.add(alias.asname or "asyncpg")
        elif isinstance(node, ast.ImportFrom) and node.module == "asyncpg":
            for alias in node.names:
                if alias.name == "Record":
                    records.add(alias.asname or "Record")
    return modules, records


def _mentions_record(annotation: ast.expr, modules: set[str], records: set[str]) -> bool:
    for node in ast.walk(annotation):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # "quoted" hints
            try:
                inner = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                continue
            if _mentions_record(inner, modules, records):
                return True
        elif isinstance(node, ast.Name) and node.id in records:
            return True
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "Record"
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            return True
    return False


def _repository_methods(path: Path):
    for cls in _tree(path).body:
        if isinstance(cls, ast.ClassDef):
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    if not fn.name.startswith("_"):
                        yield cls.name, fn


@pytest.mark.parametrize("path", [p for p in _modules(*PACKAGES) if _is_repository(p)], ids=_rel)
def test_repositories_return_structs_not_records(path):
    """No public repository method is annotated to return an asyncpg.Record, or a container
    of them: rows become frozen Structs inside the repository."""
    modules, records = _asyncpg_names(_tree(path))
    leaking = [
        f"{cls}.{fn.name} (l.{fn.lineno})"
        for cls, fn in _repository_methods(path)
        if fn.returns is not None and _mentions_record(fn.returns, modules, records)
    ]
    assert leaking == [], f"{_rel(path)} returns asyncpg.Record from {leaking}"


def _service_constructions(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = (
                f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            )
            if name in SERVICES:
                found.append(f"{name} (l.{node.lineno})")
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in _modules("marketplace", "tests", "bench") if _rel(p) != COMPOSITION_ROOT],
    ids=_rel,
)
def test_services_are_built_only_in_the_composition_root(path):
    """App, worker, CLI, tests and benches get their services from `bootstrap`."""
    assert _service_constructions(_tree(path)) == [], f"{_rel(path)} builds a service"


def test_the_service_check_sees_a_construction():
    """The check above can fail: it finds both spellings of a constructor call."""
    tree = ast.parse("a = ConsentService(uow)\nb = offers.WebhookService(uow, policy)\n")
    assert _service_constructions(tree) == ["ConsentService (l.1)", "WebhookService (l.2)"]


def test_the_record_check_sees_a_record_however_spelled():
    tree = ast.parse(
        "import asyncpg as pg\nfrom asyncpg import Record as Row\n"
        "class R:\n"
        "    async def a(self) -> pg.Record: ...\n"
        "    async def b(self) -> list[Row] | None: ...\n"
        "    async def c(self) -> 'dict[str, pg.Record]': ...\n"
        "    async def d(self) -> list[Record]: ...\n"  # a domain Struct named Record is fine
    )
    modules, records = _asyncpg_names(tree)
    returns = {fn.name: fn.returns for fn in ast.walk(tree) if isinstance(fn, ast.AsyncFunctionDef)}
    assert {n for n, r in returns.items() if _mentions_record(r, modules, records)} == {
        "a",
        "b",
        "c",
    }


# The error contract ---------------------------------------------------------------------

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
SERVER_FAULTS = {"TreeStateInvalid", "SealRefused", "RuleBundleInvalid"}


def _error_classes():
    from marketplace.http.problems import DOMAIN_ERRORS

    seen, todo = [], list(DOMAIN_ERRORS)
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: f"{c.__module__}.{c.__qualname__}")


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__qualname__)
def test_every_error_class_declares_its_code_and_status(cls):
    from marketplace.http.problems import DOMAIN_ERRORS, STATUS_BY_CODE

    assert "code" in vars(cls) and "status" in vars(cls), "code and status in its own body"
    code, status = vars(cls)["code"], vars(cls)["status"]
    assert isinstance(code, str) and SNAKE_CASE.match(code), f"code {code!r} is not snake_case"
    assert isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599
    assert STATUS_BY_CODE.get(code) == status, f"{code!r} is missing from STATUS_BY_CODE"
    if cls in DOMAIN_ERRORS or cls.__name__ in SERVER_FAULTS:
        assert status >= 500, "a server-side fault is a 5xx"


def test_the_server_faults_named_here_exist():
    names = {c.__name__ for c in _error_classes()}
    assert SERVER_FAULTS <= names


# SQL blocks -----------------------------------------------------------------------------


def _query_keys() -> set[str]:
    """Every string used as (part of) a subscript key in the packages: `Q["x"]`, and also
    `Q["x" if lock else "y"]`."""
    keys = set()
    for path in _modules(*PACKAGES):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Subscript):
                for inner in ast.walk(node.slice):
                    if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                        keys.add(inner.value)
    return keys


def test_every_sql_block_is_referenced():
    """A `-- name: x` block that no code looks up is dead: delete it with its method."""
    keys = _query_keys()
    dead = [
        f"{path.name}: {name}"
        for path in sorted(QUERIES_DIR.glob("*.sql"))
        for name in load_queries(path.name)
        if name not in keys
    ]
    assert dead == []


# The import contract --------------------------------------------------------------------


def _check(*imports: tuple[str, str]) -> set[tuple[str, str]]:
    graph = grimp.ImportGraph()
    for importer, imported in imports:
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents="")
    contract = PublicInitContract("public init", session_options={}, contract_options={})
    check = contract.check(graph, verbose=False)
    assert check.kept == (not check.metadata["illegal_imports"])
    return {(i["importer"], i["imported"]) for i in check.metadata["illegal_imports"]}


def test_the_import_contract_allows_packages_and_siblings():
    assert (
        _check(
            ("marketplace.app", "marketplace.http"),  # a package, from outside it
            ("marketplace.app", "offers.dataspace"),  # a subpackage of another package
            ("marketplace.app", "marketplace.db"),  # a module, from inside its package
            ("marketplace.http.routes.public", "marketplace.db"),  # ... at any depth
        )
        == set()
    )


def test_the_import_contract_refuses_private_modules():
    assert _check(
        ("marketplace.app", "marketplace.http.auth"),
        ("marketplace.bootstrap", "offers.dataspace.access"),
        ("offers.service", "ledger.audit.entries"),
    ) == {
        ("marketplace.app", "marketplace.http.auth"),
        ("marketplace.bootstrap", "offers.dataspace.access"),
        ("offers.service", "ledger.audit.entries"),
    }
