"""The bytes an audit entry's leaf hash covers: RFC 8785 (JCS) canonical JSON."""

from typing import Any

import rfc8785


def entry_bytes(entry: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON of the entry, so any verifier re-derives identical bytes."""
    return rfc8785.dumps(entry)
