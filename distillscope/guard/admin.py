"""The admin API and ``/metrics``, mounted into the server by the guard gateway.

- ``GET /admin/keys``, ``POST /admin/keys`` (``account``, optional ``admin``, ``org``,
  ``payment_id``: the latter stored only as a keyed hash), ``DELETE /admin/keys/{key_id}``: admin keys only.
  A created key is in the response once and never again.
- ``GET /admin/accounts``: every account's risk score, features and reasons for an
  admin key; a non-admin key sees only its own account's usage and limits.
- ``GET /admin/accounts/{account}``: one account's risk, keys (ids only) and log
  summary; a non-admin key may ask only for its own account (any other is 404,
  so that accounts cannot even be enumerated) and gets its usage and limits only.
- ``GET /metrics``: Prometheus text format, no account or key in any label.

None of these routes is listed in ``/openapi.json``.

Errors are OpenAI-shaped (``APIError``). This module must not return a key hash,
any other account's data, or any risk score, feature or reason to a non-admin
caller: a score that a harvester can read is an oracle to tune its harvest against.
It imports FastAPI at module
level (FastAPI resolves route annotations at run time, so no postponed
annotations here); the gateway imports it only when the app is built.
"""

import asyncio
import functools
import json
import time
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from distillscope.guard.keys import KeyStoreError, validate_account
from distillscope.server.errors import APIError

if TYPE_CHECKING:
    from distillscope.guard.gateway import GuardGateway, Principal


def _forbidden() -> APIError:
    return APIError(403, "This endpoint needs an admin API key.", "permission_error", code="admin_required")


def _not_found(account: str) -> APIError:
    return APIError(404, f"No account {account!r}.", "invalid_request_error", code="account_not_found")


def admin_router(gateway: "GuardGateway") -> APIRouter:
    """The admin and metrics routes of ``gateway``."""
    router = APIRouter()

    async def caller(request: Request) -> "Principal":
        return await gateway.authenticate(request)

    async def admin(request: Request) -> "Principal":
        principal = await caller(request)
        if not principal.admin:
            raise _forbidden()
        return principal

    def keystore() -> Any:
        if gateway.keys is None:
            raise APIError(
                400,
                "The server runs in open mode: there are no API keys.",
                "invalid_request_error",
                code="open_mode",
            )
        return gateway.keys

    @router.get("/admin/keys", tags=["admin"], include_in_schema=False)
    async def list_keys(request: Request) -> dict[str, Any]:
        await admin(request)
        keys = await asyncio.to_thread(keystore().list_keys)
        return {"object": "list", "data": [k.to_dict() for k in keys]}

    @router.post("/admin/keys", tags=["admin"], include_in_schema=False)
    async def create_key(request: Request) -> dict[str, Any]:
        await admin(request)
        body = await _json_object(request)
        account = body.get("account")
        is_admin = body.get("admin", False)
        if not isinstance(account, str):
            raise APIError(400, "'account' (a string) is required.", param="account")
        if not isinstance(is_admin, bool):
            raise APIError(400, "'admin' must be a boolean.", param="admin")
        meta = {name: body.get(name) for name in ("org", "payment_id")}
        for name, value in meta.items():
            if value is not None and not isinstance(value, str):
                raise APIError(400, f"'{name}' must be a string.", param=name)
        create = functools.partial(keystore().create_key, account, is_admin, **meta)
        try:
            key, info = await asyncio.to_thread(create)
        except KeyStoreError as exc:
            raise APIError(400, str(exc), param="account") from exc
        return {**info.to_dict(), "key": key, "note": "This key is shown once; store it now."}

    @router.delete("/admin/keys/{key_id}", tags=["admin"], include_in_schema=False)
    async def revoke_key(key_id: str, request: Request) -> dict[str, Any]:
        await admin(request)
        try:
            info = await asyncio.to_thread(keystore().revoke, key_id)
        except KeyStoreError as exc:
            raise APIError(404, str(exc), param="key_id", code="key_not_found") from exc
        return info.to_dict()

    @router.get("/admin/accounts", tags=["admin"], include_in_schema=False)
    async def list_accounts(request: Request) -> dict[str, Any]:
        principal = await caller(request)
        now = time.time()
        if not principal.admin:
            return {"object": "list", "data": [_usage(gateway, principal.account, now)]}
        known = set(gateway.risk.accounts())
        if gateway.keys is not None:
            known.update(await asyncio.to_thread(gateway.keys.accounts))
        rows = [gateway.risk.score(name, now).to_dict() for name in sorted(known)]
        rows.sort(key=lambda row: -row["score"])
        return {"object": "list", "data": rows}

    @router.get("/admin/accounts/{account}", tags=["admin"], include_in_schema=False)
    async def account_detail(account: str, request: Request) -> dict[str, Any]:
        principal = await caller(request)
        if not principal.admin and account != principal.account:
            raise _not_found(account)  # not 403: do not confirm that the account exists
        try:
            validate_account(account)
        except KeyStoreError as exc:
            if account != "local":
                raise _not_found(account) from exc
        keys = []
        if gateway.keys is not None:
            keys = [k.to_dict() for k in await asyncio.to_thread(gateway.keys.list_keys, account)]
        risk = gateway.risk.score(account, time.time())
        summary = await asyncio.to_thread(gateway.store.account_summary, account)
        known = (
            keys or risk.requests or summary["logged_requests"] or account in await _store_accounts(gateway)
        )
        if not known:
            raise _not_found(account)
        if not principal.admin:
            return {**_usage(gateway, account, time.time()), "keys": keys, "log": summary}
        return {**risk.to_dict(), "keys": keys, "log": summary}

    @router.get("/metrics", tags=["metrics"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(gateway.metrics.render(), media_type=gateway.metrics.content_type)

    return router


def _usage(gateway: "GuardGateway", account: str, now: float) -> dict[str, Any]:
    """What an account may know about itself: requests seen and its limits (no risk, no reasons)."""
    limits = gateway.policy.config.limits_for(account)
    return {
        "account": account,
        "requests": gateway.risk.score(account, now).requests,
        "limits": {"rpm": limits.rpm, "tpm": limits.tpm},
    }


async def _store_accounts(gateway: "GuardGateway") -> set[str]:
    if gateway.keys is None:
        return set()
    return set(await asyncio.to_thread(gateway.keys.accounts))


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"The request body is not valid JSON ({exc}).") from exc
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.")
    return body
