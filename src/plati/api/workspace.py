"""``/workspace/settings``: the workspace's model provider credentials, encrypted at rest and
returned masked (they override the operator's environment for this workspace's assistants)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from ..errors import NotFound
from ..security.secrets import mask_secret
from ..store.models import Workspace
from .deps import Auth, Services, Svc, Writer
from .wire import Body, ok

router = APIRouter(tags=["Workspace"])

SECRET_KEYS = frozenset({"openai_api_key", "anthropic_api_key"})


class WorkspaceSettingsUpdate(Body):
    """Each field set to a value replaces it; set to null it is removed."""

    openai_api_key: str | None = Field(default=None, max_length=500)
    openai_base_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    openai_model: str | None = Field(default=None, max_length=200)
    anthropic_api_key: str | None = Field(default=None, max_length=500)
    anthropic_base_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    anthropic_model: str | None = Field(default=None, max_length=200)


def read_settings(svc: Services, workspace: Workspace) -> dict[str, str]:
    if not workspace.settings_encrypted:
        return {}
    settings: dict[str, str] = svc.box.decrypt_json(workspace.settings_encrypted)
    return settings


def _masked(settings: dict[str, str]) -> dict[str, str]:
    return {key: mask_secret(value) if key in SECRET_KEYS else value for key, value in sorted(settings.items())}


@router.get("/workspace/settings", summary="The workspace's settings (secrets masked)")
async def get_settings(principal: Auth, svc: Svc) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        workspace = await session.get(Workspace, principal.workspace_id)
        if workspace is None:
            raise NotFound("No such workspace")
        return ok("Workspace settings", _masked(read_settings(svc, workspace)))


@router.patch("/workspace/settings", summary="Set or remove workspace settings")
async def update_settings(body: WorkspaceSettingsUpdate, principal: Writer, svc: Svc) -> dict[str, Any]:
    for key in body.model_fields_set:
        value = getattr(body, key)
        if key.endswith("_base_url") and value is not None:
            # A base URL of the workspace's own: the network policy applies, and the operator's
            # key is never sent there (see plati.engine.factory).
            await svc.network.check_url_resolved(value, field=key)
    async with svc.db.sessionmaker() as session, session.begin():
        workspace = await session.get(Workspace, principal.workspace_id)
        if workspace is None:
            raise NotFound("No such workspace")
        settings = read_settings(svc, workspace)
        for key in body.model_fields_set:
            value = getattr(body, key)
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        workspace.settings_encrypted = svc.box.encrypt_json(settings) if settings else None
    return ok("Workspace settings updated", _masked(settings))
