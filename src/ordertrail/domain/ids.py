"""Client order ids: the stable key we send as Tradier's `tag` and IBKR's `cOID`."""

from __future__ import annotations

import re
from datetime import datetime

from ordertrail.domain.proposal import ProposalKind

MAX_LENGTH = 255
_ALLOWED = re.compile(r"^[A-Za-z0-9-]+$")


class InvalidClientOrderId(ValueError):
    """A client order id that no broker would accept."""


def validate_client_order_id(value: str) -> str:
    """Return `value` if both brokers accept it as a client order id, else raise."""
    if not value:
        raise InvalidClientOrderId("client order id is empty")
    if len(value) > MAX_LENGTH:
        raise InvalidClientOrderId(
            f"client order id has {len(value)} characters; brokers accept at most {MAX_LENGTH}"
        )
    if not _ALLOWED.match(value):
        raise InvalidClientOrderId(
            f"client order id {value!r} may hold only letters, digits and '-'"
        )
    return value


def validate_prefix(prefix: str) -> str:
    """Return a client order id prefix if it is usable, else raise."""
    if not prefix or not _ALLOWED.match(prefix) or len(prefix) > 64:
        raise InvalidClientOrderId(
            f"client order prefix {prefix!r} must be 1-64 letters, digits or '-'"
        )
    return prefix


def make_client_order_id(prefix: str, proposal_id: int, kind: ProposalKind, at: datetime) -> str:
    """Build `<prefix>-<proposal id>-<side>-<timestamp>` (UTC, to the millisecond)."""
    stamp = at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z"
    return validate_client_order_id(f"{validate_prefix(prefix)}-{proposal_id}-{kind.value}-{stamp}")


def proposal_id_from_client_order_id(value: str, prefix: str) -> int | None:
    """Read the proposal id back out of one of our client order ids; None if it is not ours."""
    head = f"{prefix}-"
    if not value.startswith(head):
        return None
    parts = value[len(head) :].split("-")
    if len(parts) != 3 or not parts[0].isdigit() or parts[1] not in ("ENTRY", "EXIT"):
        return None
    return int(parts[0])
