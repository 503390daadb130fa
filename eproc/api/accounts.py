"""``/api/v1/accounts``: school accounts, for a portal that onboards schools itself."""

from __future__ import annotations

from flask import Response, request
from flask_openapi3.blueprint import APIBlueprint
from flask_openapi3.models.tag import Tag
from flask_openapi3.types import ResponseDict

from eproc.api import models
from eproc.api.app import API_PREFIX, BEARER, grant, hub, json_response
from eproc.services import accounts
from eproc.services.accounts import AccountView
from eproc.services.errors import NotFound
from eproc.services.tokens import Grant, MissingPermission

tag = Tag(name="accounts", description="school accounts (FMS logins)")
blueprint = APIBlueprint("accounts", __name__, url_prefix=f"{API_PREFIX}/accounts", abp_tags=[tag],
                         abp_security=[BEARER])
ERRORS: ResponseDict = {400: models.Problem, 401: models.Problem, 403: models.Problem, 404: models.Problem}


def _out(view: AccountView) -> models.Account:
    return models.Account(
        username=view.username, establishment=view.establishment_name, buyer_duns=view.buyer_duns,
        supplier_duns=view.supplier_duns, account_number=view.account_number, language=view.language,
        currency=view.currency, enabled=view.enabled, failed_logins=view.failed_logins,
        locked_until=view.locked_until, password_changed_at=view.password_changed_at, created_at=view.created_at,
    )


def _visible(allowed: Grant, username: str) -> AccountView:
    view = accounts.show_account(hub(), username)
    if not allowed.may_see(view.id):
        raise NotFound(f"no account named {username!r}")
    return view


@blueprint.get("", summary="List school accounts", responses={200: models.AccountList, **ERRORS})
def list_accounts() -> Response:
    allowed = grant("ManageAccount")
    views = [v for v in accounts.list_accounts(hub()) if allowed.may_see(v.id)]
    return json_response(models.AccountList(items=[_out(v) for v in views]))


@blueprint.post("", summary="Create a school account (its password is in the answer, once)",
                responses={201: models.AccountWithPassword, 409: models.Problem, **ERRORS})
def create(body: models.AccountCreate) -> Response:
    allowed = grant("ManageAccount")
    if allowed.account_ids is not None:
        # A token limited to some accounts cannot widen its own reach.
        raise MissingPermission("ManageAccount (for every account)")
    view, password = accounts.create_account(
        hub(), body.username, establishment_name=body.establishment, buyer_duns=body.buyer_duns,
        supplier_duns=body.supplier_duns, account_number=body.account_number, language=body.language,
        currency=body.currency,
    )
    out = models.AccountWithPassword(**_out(view).model_dump(), password=password)
    location = f"{request.host_url.rstrip('/')}{API_PREFIX}/accounts/{view.username}"
    return json_response(out, 201, {"Location": location})


@blueprint.get("/<username>", summary="A school account", responses={200: models.Account, **ERRORS})
def show(path: models.AccountPath) -> Response:
    allowed = grant("ManageAccount")
    return json_response(_out(_visible(allowed, path.username)))


@blueprint.patch("/<username>", summary="Change a school account's details or enable/disable it",
                 responses={200: models.Account, **ERRORS})
def update(path: models.AccountPath, body: models.AccountPatch) -> Response:
    allowed = grant("ManageAccount")
    _visible(allowed, path.username)
    changes = body.model_dump(exclude_unset=True)
    view = accounts.update_account(
        hub(), path.username,
        establishment_name=changes.get("establishment"), buyer_duns=changes.get("buyer_duns"),
        supplier_duns=changes.get("supplier_duns"), account_number=changes.get("account_number"),
        language=changes.get("language"), currency=changes.get("currency"), enabled=changes.get("enabled"),
        clear_account_number="account_number" in changes and changes["account_number"] is None,
    )
    return json_response(_out(view))


@blueprint.post("/<username>/reset-password", summary="A new password at once (in the answer, once)",
                responses={200: models.NewPassword, **ERRORS})
def reset_password(path: models.AccountPath) -> Response:
    allowed = grant("ManageAccount")
    _visible(allowed, path.username)
    password = accounts.reset_password(hub(), path.username)
    return json_response(models.NewPassword(username=path.username, password=password))


@blueprint.post("/<username>/unlock", summary="Lift a failed-login lockout", responses={200: models.Account, **ERRORS})
def unlock(path: models.AccountPath) -> Response:
    allowed = grant("ManageAccount")
    _visible(allowed, path.username)
    return json_response(_out(accounts.unlock(hub(), path.username)))
