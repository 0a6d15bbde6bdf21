"""Strict parsing of settings from the environment: a bad value names the variable, the value
and what is allowed, in one line, before anything starts."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
    r"(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$"
)


class SettingInvalid(ValueError):
    """An environment variable whose value the service cannot run with."""

    def __init__(self, name: str, value: str, allowed: str):
        super().__init__(f"{name}={value!r} is not allowed: {allowed}")
        self.name = name


class Environment:
    """Typed reads of environment variables, each with its default and its allowed range."""

    def __init__(self, env: Mapping[str, str]):
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return None if value is None or value.strip() == "" else value.strip()

    def text(self, name: str, default: str) -> str:
        value = self._raw(name)
        if value is not None and any(ord(c) < 32 for c in value):
            raise SettingInvalid(name, value, "text without control characters")
        return default if value is None else value

    def optional_text(self, name: str) -> str | None:
        value = self._raw(name)
        return None if value is None else self.text(name, value)

    def integer(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = int(value, 10)
        except ValueError:
            raise SettingInvalid(name, value, f"an integer from {lo} to {hi}") from None
        if not lo <= number <= hi:
            raise SettingInvalid(name, value, f"an integer from {lo} to {hi}")
        return number

    def number(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self._raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            raise SettingInvalid(name, value, f"a number from {lo:g} to {hi:g}") from None
        if not lo <= number <= hi:  # NaN fails this too
            raise SettingInvalid(name, value, f"a number from {lo:g} to {hi:g}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise SettingInvalid(name, value, "one of 1/true/yes/on or 0/false/no/off")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self._raw(name)
        if value is None:
            return default
        if value not in allowed:
            raise SettingInvalid(name, value, "one of " + ", ".join(allowed))
        return value

    def path(self, name: str) -> Path | None:
        value = self.optional_text(name)
        return Path(value) if value is not None else None

    def matching(self, name: str, default: str, pattern: str, allowed: str) -> str:
        """Text that matches `pattern` (a regular expression); `allowed` says so in words."""
        import re

        value = self.text(name, default)
        if not re.fullmatch(pattern, value):
            raise SettingInvalid(name, value, allowed)
        return value

    def url(self, name: str, default: str | None) -> str | None:
        value = self.optional_text(name)
        if value is None:
            return default
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (a bad port raises here)
        except ValueError:
            raise SettingInvalid(name, value, "an http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingInvalid(name, value, "an http(s) URL")
        return value

    def postgres_url(self, name: str) -> str | None:
        value = self.optional_text(name)
        if value is not None and urlsplit(value).scheme not in ("postgres", "postgresql"):
            raise SettingInvalid(name, value, "a postgresql:// URL")
        return value

    def names(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.optional_text(name)
        if value is None:
            return default
        items = tuple(s.strip() for s in value.split(",") if s.strip())
        if not items:
            raise SettingInvalid(name, value, "a comma-separated list of at least one name")
        return items

    def hosts(self, name: str) -> tuple[str, ...]:
        """A comma-separated list of host names or IP addresses (no ports, no wildcards), in
        canonical form: lower case, addresses in their standard spelling. Empty by default."""
        value = self.optional_text(name)
        if value is None:
            return ()
        hosts = []
        for item in (s.strip().lower().removesuffix(".") for s in value.split(",")):
            try:
                hosts.append(str(ipaddress.ip_address(item.removeprefix("[").removesuffix("]"))))
                continue
            except ValueError:
                pass
            if not _HOST_NAME.match(item) or item.replace(".", "").isdigit():
                raise SettingInvalid(
                    name, value, "comma-separated host names or IP addresses, without ports"
                )
            hosts.append(item)
        return tuple(dict.fromkeys(hosts))

    def string_map(self, name: str) -> dict[str, str]:
        value = self._raw(name)
        if value is None:
            return {}
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise SettingInvalid(name, value, 'a JSON object of strings, e.g. {"issuer": "url"}')
        return parsed
