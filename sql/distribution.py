"""Where every table goes when one PostgreSQL server is outgrown and the schema is spread over
a Citus cluster (DESIGN §5, docs/scale.md). Citus cannot be installed here, so this
declaration is what is checked instead: tests/integration/test_distribution.py holds the
migrated catalog to the rules Citus enforces for each kind of table, and `citus_ddl` renders
the statements that would distribute it.

Three kinds, as Citus has them:
- distributed: sharded by a column. Almost all by the customer's id, in one colocation group,
  so one customer's rows of every such table live on one node and a customer's transaction
  stays on it. Every primary key and unique constraint must include the column, and a foreign
  key between two such tables must join on it.
- reference: copied whole to every node, so single-shard queries join them locally. Small or
  bounded, and written rarely (every write goes to every node).
- local: kept on the coordinator, undistributed: state that needs one order or one lock over
  all customers (the audit log's sequence, partners' escrow balances, the job queue).
"""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER_KEY = "customer_id"


@dataclass(frozen=True)
class Distributed:
    """Sharded by `column`; `colocated`: with customers (the same value lands on the same
    node as that customer's rows)."""

    reason: str
    column: str = CUSTOMER_KEY
    colocated: bool = True


@dataclass(frozen=True)
class Reference:
    """Replicated to every node."""

    reason: str


@dataclass(frozen=True)
class Local:
    """On the coordinator. `customer_ids`: it names customers without being theirs to shard
    (a distributed table's rule would otherwise apply to its customer_id column)."""

    reason: str
    customer_ids: bool = False


Placement = Distributed | Reference | Local

# The job queue's tables (pgqueuer installs and upgrades them itself): local, like every queue.
JOB_QUEUE_PREFIX = "pgqueuer"

# In an order Citus accepts for the DDL (and the catalog test checks): a table after every
# table its foreign keys point to, and customers before the tables colocated with it.
LAYOUT: dict[str, Placement] = {
    # -- small, read by single-shard queries everywhere -------------------------------------
    "partners": Reference("one row per partner; every partner read and acceptance joins it"),
    "offers": Reference("joined by every acceptance and offer list; one row per offer"),
    "offer_versions": Reference("the terms a grant points to; one row per offer change"),
    "webhook_endpoints": Reference("a few per partner; acceptance checks for subscribers"),
    "signing_keys": Reference("a handful of keys, read at start and for the JWKS"),
    "insight_releases": Reference(
        "bounded by the privacy budget (a few per partner and period); contributions point here"
    ),
    "partner_privacy_spend": Reference("one row per partner and budget period"),
    # -- a customer's own rows: one shard group per customer --------------------------------
    "customers": Distributed("the distribution key itself: a customer is its id", column="id"),
    "customer_audit_keys": Distributed("a customer's pseudonym key, read with each decision"),
    "customer_payment_accounts": Distributed("where one customer is paid"),
    "customer_privacy_spend": Distributed("one customer's epsilon per budget period"),
    "grants": Distributed("a customer's consents: the partner read's grant check is one shard"),
    "grant_receipts": Distributed("a grant's receipt chain, beside its grant"),
    "offer_compensations": Distributed("the once-per-customer-and-offer payment guard"),
    "deletion_obligations": Distributed("what a partner owes for one customer's ended grant"),
    "notifications": Distributed("what one customer is told"),
    "records": Distributed("a customer's Personal Data Space (partitioned by month)"),
    "decisions": Distributed(
        "decisions naming no customer, and those before 0084 (partitioned by month)"
    ),
    "exports": Distributed("a customer's export packages"),
    "imports": Distributed("packages imported into a customer's account"),
    "imported_consents": Distributed("a customer's former consents, to re-confirm"),
    "insight_contributions": Distributed("which releases counted a customer"),
    "idempotency_keys": Distributed(
        "written with its request's effect; a customer's keys (principal = the customer id) "
        "land on that customer's node, partners' and the operator's wherever they hash",
        column="principal",
    ),
    # -- global uniqueness over customers: distributed by their own key ---------------------
    "customer_refs": Distributed(
        "the operator's reference is unique over all customers: looked up by it, at onboarding",
        column="external_ref",
        colocated=False,
    ),
    "import_claims": Distributed(
        "an export package is imported once over all customers",
        column="export_id",
        colocated=False,
    ),
    # -- one order or one lock over everyone: on the coordinator ----------------------------
    "audit_entries": Local(
        "one log, one sequence: the Merkle tree orders entries by commit (docs/scale.md); "
        "partitioned by month"
    ),
    "audit_leaves": Local("the sealed tree's leaves, in log order"),
    "audit_checkpoints": Local("the signed tree heads"),
    "audit_sealer_state": Local("the sealer's one row"),
    "ledger_accounts": Local("a partner's escrow balance is one row under one lock"),
    "ledger_transactions": Local("the double-entry ledger, balanced at commit"),
    "ledger_postings": Local("the ledger's postings, beside their transactions"),
    "payouts": Local("the payout outbox, written with its ledger transaction", customer_ids=True),
    "partner_fundings": Local("Stripe PaymentIntents that credit escrow"),
    "stripe_events": Local("Stripe webhook events already handled"),
    "webhook_events": Local("the webhook outbox, drained by the job worker"),
    "webhook_deliveries": Local("one event to one endpoint, with its retries"),
    "webhook_attempts": Local("each delivery attempt, for the partner's log"),
    "schema_migrations": Local("which migrations ran"),
}


def placement(table: str) -> Placement | None:
    if table.startswith(JOB_QUEUE_PREFIX):
        return Local("the job queue (pgqueuer's own tables)")
    return LAYOUT.get(table)


def citus_ddl() -> str:
    """The statements that distribute a migrated database on a Citus coordinator, in LAYOUT's
    order: reference tables first (foreign keys point at them), then customers and the tables
    colocated with it, then the coordinator's own."""
    lines = ["-- On the coordinator, after CREATE EXTENSION citus and citus_add_node(...):"]
    lines += [f"SELECT create_reference_table('{t}');" for t in _of(Reference)]
    for table in _of(Distributed):
        p = LAYOUT[table]
        assert isinstance(p, Distributed)
        if table == "customers":
            lines.append(f"SELECT create_distributed_table('{table}', '{p.column}');")
        else:
            colocate = "customers" if p.colocated else "none"
            lines.append(
                f"SELECT create_distributed_table('{table}', '{p.column}',"
                f" colocate_with => '{colocate}');"
            )
    lines += [f"SELECT citus_add_local_table_to_metadata('{t}');" for t in _of(Local)]
    return "\n".join(lines)


def _of(kind: type) -> list[str]:
    return [t for t, p in LAYOUT.items() if isinstance(p, kind)]
