"""A custom import-linter contract: other packages import only a package's public `__init__`.

Every module that is not a package is private to the package that contains it: `a.b.c` (a
module) may be imported only from inside `a.b` (at any depth). A package, that is its
`__init__`, may be imported from anywhere the layers allow. Registered in pyproject.toml
under `[tool.importlinter] contract_types`; lint-imports puts the working directory on
sys.path, so `make lint` (run from the project root) finds this module.
"""

from __future__ import annotations

import importlib.util

import grimp
from importlinter import Contract, ContractCheck, fields, output
from importlinter.application import contract_utils


class PublicInitContract(Contract):
    """Options: `ignore_imports` (import expressions to leave out), as in the built-in types."""

    type_name = "public_init"

    ignore_imports = fields.SetField(subfield=fields.ImportExpressionField(), required=False)
    unmatched_ignore_imports_alerting = fields.EnumField(
        contract_utils.AlertLevel, default=contract_utils.AlertLevel.ERROR
    )

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        removal = contract_utils.remove_ignored_imports_and_report(
            graph=graph,
            ignore_imports=self.ignore_imports,  # type: ignore[arg-type]
            unmatched_alerting=self.unmatched_ignore_imports_alerting,  # type: ignore[arg-type]
        )
        illegal = []
        for imported in sorted(graph.modules):
            if "." not in imported or is_package(imported):
                continue
            owner = imported.rsplit(".", 1)[0]
            for importer in sorted(graph.find_modules_that_directly_import(imported)):
                if importer == owner or importer.startswith(owner + "."):
                    continue
                details = graph.get_import_details(importer=importer, imported=imported)
                illegal.append(
                    {
                        "importer": importer,
                        "imported": imported,
                        "line_numbers": [d["line_number"] for d in details],
                    }
                )
        return ContractCheck(
            kept=not illegal,
            warnings=list(removal.warnings),
            ignored_import_count=removal.ignored_import_count,
            metadata={"illegal_imports": illegal},
        )

    def render_broken_contract(self, check: ContractCheck) -> None:
        output.print_error(
            "A module is private to its package: import the package (its __init__) instead:",
            bold=False,
        )
        output.new_line()
        for link in check.metadata["illegal_imports"]:
            lines = ", ".join(str(n) for n in link["line_numbers"])
            output.print_error(
                f"- {link['importer']} -> {link['imported']} (l.{lines})", bold=False
            )
        output.new_line()


def is_package(module: str) -> bool:
    """A package has an `__init__` (or is a namespace package); a plain module has neither."""
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.submodule_search_locations is not None
