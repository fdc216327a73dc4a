"""Broker accounts kept in the database, for the workers to share (tokens go in, never out)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ordertrail.api.deps import AppDep
from ordertrail.broker_factory import AccountSpec
from ordertrail.services.accounts import add_account, list_accounts, remove_account

router = APIRouter(prefix="/api/accounts", tags=["accounts"])
BrokerName = Literal["paper", "tradier", "ibkr", "tws"]
AccountId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class AccountPublic(BaseModel):
    """A stored account as anyone may see it: whether it has a token, never the token."""

    broker: str
    account_id: str
    label: str | None
    settings: dict[str, Any]
    has_credentials: bool
    enabled: bool


class AccountsPublic(BaseModel):
    data: list[AccountPublic]
    count: int


class AccountCreate(BaseModel):
    """An account to store; `token` is the broker's access token (Tradier)."""

    model_config = ConfigDict(extra="forbid")

    broker: BrokerName
    account_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    token: SecretStr | None = None
    label: str | None = Field(default=None, max_length=128)
    settings: dict[str, str | bool | int] = Field(default_factory=dict)


@router.get("", response_model=AccountsPublic)
def read_accounts(app: AppDep) -> dict[str, Any]:
    """List stored accounts (tokens are never shown)."""
    rows = list_accounts(app.engine)
    return {"data": rows, "count": len(rows)}


@router.post("", response_model=AccountPublic, status_code=status.HTTP_201_CREATED)
def create_account(body: AccountCreate, app: AppDep) -> dict[str, Any]:
    """Store (or replace) an account; workers pick it up on their next cycle."""
    token = body.token.get_secret_value() if body.token else None
    spec = AccountSpec(body.broker, body.account_id, token, dict(body.settings))
    add_account(app.engine, spec, app.clock, body.label)
    return next(
        a
        for a in list_accounts(app.engine)
        if a["broker"] == body.broker and a["account_id"] == body.account_id
    )


@router.delete("/{broker}/{account_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_account(broker: BrokerName, account_id: AccountId, app: AppDep) -> None:
    """Forget a stored account (its orders stay)."""
    remove_account(app.engine, broker, account_id)
