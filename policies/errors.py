"""Errors raised by the policies package.

    PolicyError
    └── RuleBundleInvalid      a rule file is malformed; the service must not start with it

A decision is never an exception: `decide` returns a `Decision` value. Only a broken rule bundle
(a deployment error) raises.
"""

from __future__ import annotations


class PolicyError(Exception):
    """Base class of every error raised by the policies package."""

    code = "policy_error"
    status = 500

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class RuleBundleInvalid(PolicyError):
    """A rule file could not be loaded; the message names the file and the field."""

    code = "rule_bundle_invalid"
    status = 500  # a deployment fault: the service does not start with it

    def __init__(self, file: str, field: str, problem: str) -> None:
        super().__init__(
            f"{file}: {field}: {problem}" if field else f"{file}: {problem}", field=field
        )
        self.file = file
        self.problem = problem
