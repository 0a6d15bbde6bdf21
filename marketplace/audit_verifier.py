"""`marketplace audit verify`: a regulator's independent check of the audit log over the public
API only — the signed checkpoint, every leaf hash, its own entries, and a kept checkpoint."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ledger.audit import (
    CHECKPOINT_INVALID,
    CheckpointInvalid,
    VerificationReport,
    parse_checkpoint,
    verify_view,
)


def fetch_and_verify(
    url: str,
    token: str,
    *,
    verifier_key: str | list[str] | None = None,
    since_checkpoint: str | None = None,
    transport: httpx.BaseTransport | None = None,
) -> tuple[VerificationReport, str, dict]:
    """Download what the report needs and verify it; returns (report, checkpoint, details)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60, transport=transport) as http:
        if not verifier_key:
            verifier_key = _published_keys(http)
        note = _ok(http.get("/v1/audit/checkpoint")).text
        try:
            size = parse_checkpoint(note).size
        except CheckpointInvalid as exc:
            report = VerificationReport(False, 0, 0, None, CHECKPOINT_INVALID, str(exc))
            return report, note, {}
        hashes: list[bytes | None] = []
        missing: list[int] = []
        while len(hashes) < size:
            page = _ok(http.get("/v1/audit/leaves", params={"start": len(hashes), "end": size}))
            body = page.json()
            hashes.extend(bytes.fromhex(h) if h is not None else None for h in body["hashes"])
            missing.extend(body["missing_entries"])
            if body["end"] <= body["start"]:
                break
        proof = None
        if since_checkpoint is not None:
            try:
                earlier_size = parse_checkpoint(since_checkpoint).size
            except CheckpointInvalid:
                earlier_size = None  # verify_view reports it as an invalid earlier checkpoint
            if earlier_size is not None and earlier_size <= size:
                p = _ok(
                    http.get(
                        "/v1/audit/proofs/consistency",
                        params={"first": earlier_size, "second": size},
                    )
                ).json()
                proof = [bytes.fromhex(h) for h in p["proof"]]
        # The entries are hashed as their lines arrive; of each, only what would name it as
        # the bad one is kept (leaf index, id, kind, at), not its bytes.
        seen: dict[int, dict] = {}

        def served(lines) -> Iterator[tuple[int, bytes]]:
            for line in lines:
                if line:
                    e = json.loads(line)
                    seen[e["leaf_index"]] = {k: e[k] for k in ("leaf_index", "id", "kind", "at")}
                    yield e["leaf_index"], e["entry"].encode()

        with http.stream("GET", "/v1/audit/export", params={"tree_size": size}) as r:
            _ok(r)
            report = verify_view(
                note,
                verifier_key,
                hashes,
                served(r.iter_lines()),
                missing_entries=missing,
                earlier_checkpoint=since_checkpoint,
                consistency_proof=proof,
            )
    details: dict[str, Any] = {"visible_entries": len(seen)}
    if report.first_bad_index is not None and report.first_bad_index in seen:
        details["first_bad_entry"] = seen[report.first_bad_index]
    return report, note, details


class CannotVerify(Exception):
    """Something prevents checking (a refused token, an unreachable server, a file that is
    not a checkpoint): no verdict on the log either way."""


def _published_keys(http: httpx.Client) -> list[str]:
    """Every verifier key the log was signed with (the active one and those retired by key
    rotations), so a kept checkpoint signed before a rotation still verifies."""
    listed = http.get("/v1/audit/keys")
    if listed.status_code == 404:  # a server from before key rotation: its one key
        return [_ok(http.get("/v1/audit/key")).text.strip()]
    return [k["verifier_key"] for k in _ok(listed).json()["keys"]]


def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        response.read()
        reason = response.text[:200]
        try:
            body = response.json()
            reason = f"{body.get('code', '')}: {body.get('detail', '')}".strip(": ")
        except ValueError:
            pass
        raise CannotVerify(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} ({reason})"
        )
    return response


VERIFIED, INCONSISTENT, CANNOT_VERIFY = 0, 1, 2


def run(args) -> int:
    """The CLI entry: prints the report as JSON. Exit 0: the log verifies; 1: a proven
    inconsistency (the report names it); 2: nothing could be concluded, with a one-line reason
    (a refused or expired token, a missing or malformed checkpoint file, no server)."""
    try:
        since = _kept_checkpoint(args.since_checkpoint)
        report, note, details = fetch_and_verify(
            args.url, args.token, verifier_key=args.key, since_checkpoint=since
        )
    except CannotVerify as e:
        print(f"cannot verify: {e}", file=sys.stderr)
        return CANNOT_VERIFY
    except httpx.HTTPError as e:  # the log could not be read: that is not a verdict on it
        print(f"cannot verify: could not read the log at {args.url}: {e}", file=sys.stderr)
        return CANNOT_VERIFY
    out = {
        "ok": report.ok,
        "tree_size": report.tree_size,
        "entries_checked": report.entries_checked,
        "first_bad_index": report.first_bad_index,
        "problem": report.problem,
        "detail": report.detail,
        **details,
    }
    print(json.dumps(out, indent=2))
    if report.ok and args.save_checkpoint:
        Path(args.save_checkpoint).write_text(note)
    return VERIFIED if report.ok else INCONSISTENT


def _kept_checkpoint(path: str | None) -> str | None:
    """The text of the checkpoint kept from an earlier run; its signature is checked later,
    against the log's key (a signature that fails there is evidence, exit 1)."""
    if path is None:
        return None
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CannotVerify(f"cannot read the kept checkpoint {path}: {_reason(e)}") from None
    try:
        parse_checkpoint(text)
    except CheckpointInvalid as e:
        raise CannotVerify(f"{path} is not a checkpoint: {e}") from None
    return text


def _reason(e: BaseException) -> str:
    return getattr(e, "strerror", None) or str(e)
