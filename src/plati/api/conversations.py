"""Conversations: chat with an assistant through a channel (JSON or Server-Sent Events), and the
stored history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy import func, select

from ..engine.runner import ChatRequest, Emit
from ..errors import BadRequest, ConversationBusy, InvalidRequest, NotFound, PlatiError
from ..store.models import Conversation, Identity, Message, Turn
from .deps import Auth, Services, Svc, Writer, principal_of, services
from .wire import INT32_MAX, Body, ok

router = APIRouter(tags=["Conversations"])

MAX_TEXT = 32_000
MAX_IDENTITY = 200  # identities.external_id
MAX_IDENTITY_NAME = 200  # identities.name
IdentityId = Annotated[
    str, PathParam(min_length=1, max_length=MAX_IDENTITY, description="The caller's own id for the person talking")
]


class ChatBody(Body):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form; ``name`` (a string) is recorded as the person's name"
    )

    @model_validator(mode="after")
    def _identity_name(self) -> ChatBody:
        name = self.metadata.get("name")
        if name is not None and (not isinstance(name, str) or len(name) > MAX_IDENTITY_NAME):
            problem = PydanticCustomError(
                "identity_name", "must be a string of at most {limit} characters", {"limit": MAX_IDENTITY_NAME}
            )
            raise ValidationError.from_exception_data(
                type(self).__name__, [InitErrorDetails(type=problem, loc=("metadata", "name"), input=None)]
            )
        return self


def _sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, ensure_ascii=False, default=str)}\n\n".encode()


def _emitter(queue: asyncio.Queue[dict[str, Any] | None]) -> Emit:
    async def emit(event: dict[str, Any]) -> None:
        queue.put_nowait(event)

    return emit


async def _first_event(
    task: asyncio.Task[dict[str, Any]], queue: asyncio.Queue[dict[str, Any] | None], claimed: asyncio.Future[None]
) -> dict[str, Any] | None:
    """Wait until the turn has taken its conversation, has said it waits (an event), or has ended
    before the stream starts, so that a message refused outright (``conversation_busy``) is an
    HTTP 409 as in JSON mode.

    Raises:
        ConversationBusy: the channel rejects messages while a reply runs.
    """
    first = asyncio.ensure_future(queue.get())
    try:
        waits: set[asyncio.Future[Any]] = {first, task, claimed}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        first.cancel()
        raise
    if first.done():
        return first.result()
    first.cancel()
    if task.done() and not task.cancelled() and isinstance(task.exception(), ConversationBusy):
        raise task.exception()  # type: ignore[misc]
    return None


def _stream(
    task: asyncio.Task[dict[str, Any]],
    queue: asyncio.Queue[dict[str, Any] | None],
    first: dict[str, Any] | None = None,
) -> StreamingResponse:
    def finished(done: asyncio.Task[dict[str, Any]]) -> None:
        if not done.cancelled() and (exc := done.exception()) is not None:
            # As the JSON error body: ``content`` is what end users may read (a provider failure
            # is a safe sentence with an error id, see ``engine.safe_errors``); ``details`` is
            # for the workspace.
            event: dict[str, Any] = {"type": "error", "content": "Internal error", "code": "internal_error"}
            if isinstance(exc, PlatiError):
                event.update(content=exc.message, code=exc.code)
                if exc.details is not None:
                    event["details"] = exc.details
            queue.put_nowait(event)
        queue.put_nowait(None)

    task.add_done_callback(finished)

    async def events() -> AsyncIterator[bytes]:
        # The turn runs as its own task: a client that disconnects stops reading, not the turn.
        if first is not None:
            yield _sse(first)
        while (event := await queue.get()) is not None:
            yield _sse(event)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _chat(
    svc: Services, principal_workspace: str, identity: str, channel_id: str, body: ChatBody, stream: bool
) -> Any:
    request = ChatRequest(
        workspace_id=principal_workspace,
        identity=identity,
        channel_id=channel_id,
        text=body.text,
        metadata=body.metadata,
    )
    # The workspace's slot is taken before anything is stored, and given back when the turn's
    # task ends: turns are detached, so a client that goes away does not end them.
    slot = await svc.turn_slots.acquire(principal_workspace)
    queue: asyncio.Queue[dict[str, Any] | None] | None = asyncio.Queue() if stream else None
    try:
        prepared = await svc.runner.prepare(request)
        if queue is not None:
            prepared.claimed = asyncio.get_running_loop().create_future()
        task = svc.runner.run_detached(prepared, None if queue is None else _emitter(queue))
    except BaseException:
        svc.turn_slots.release(principal_workspace, slot)
        raise
    task.add_done_callback(lambda _done: svc.turn_slots.release(principal_workspace, slot))
    if queue is not None:
        assert prepared.claimed is not None
        return _stream(task, queue, await _first_event(task, queue, prepared.claimed))
    # Detached as well: a client that gives up on a JSON reply does not lose the stored turn.
    data = await asyncio.shield(task)
    # Already JSON-ready: skip FastAPI's encoder walk of the whole reply.
    return JSONResponse(ok("Reply", data))


def parse_chat_body(raw: bytes) -> ChatBody:
    """The chat body is JSON whatever the Content-Type says: the guide's own curl example
    (``curl -d '{"text": ...}'``) sends it as a form.

    Raises:
        BadRequest: the body is not JSON, or nests so deeply that it cannot be read.
        InvalidRequest: the JSON does not fit (details name every field).
    """
    try:
        decoded = json.loads(raw) if raw else None
    except ValueError:
        raise BadRequest('Request body must be JSON like {"text": "Check my order ORD-001"}') from None
    except RecursionError:
        raise BadRequest("Request body nests objects and arrays too deeply to be read") from None
    return chat_body(decoded)


def chat_body(decoded: Any, prefix: str = "") -> ChatBody:
    """Validate a decoded chat body (``prefix``: where its fields came from, e.g. ``query.``).

    Raises:
        InvalidRequest: it does not fit (details name every field).
    """
    try:
        return ChatBody.model_validate(decoded)
    except ValidationError as exc:
        details = [
            {"field": prefix + ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
            for item in exc.errors()
        ]
        summary = "; ".join(f"{d['field'] or '(body)'}: {d['message']}" for d in details)
        raise InvalidRequest(f"Invalid request: {summary}", details=details) from None


@router.post(
    "/conversation/{identity_id}/chat/{channel_id}",
    summary="Send a message, get the reply",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": ChatBody.model_json_schema()}},
        }
    },
)
async def chat(identity_id: IdentityId, channel_id: str, request: Request) -> Any:
    # Every turn comes through here: resolved by hand, FastAPI's dependency solving costs more
    # than the rest of the request handling together.
    svc = services(request)
    principal = await principal_of(request, svc, write=True)
    body = parse_chat_body(await request.body())
    wants_stream = "text/event-stream" in request.headers.get("accept", "")
    return await _chat(svc, principal.workspace_id, identity_id, channel_id, body, wants_stream)


@router.get("/conversation/{identity_id}/streaming", summary="Send a message, stream the reply (SSE)")
async def streaming(
    identity_id: IdentityId,
    principal: Writer,
    svc: Svc,
    channel_id: str = Query(min_length=1),
    text: str = Query(min_length=1, max_length=MAX_TEXT),
) -> Any:
    body = chat_body({"text": text}, prefix="query.")
    return await _chat(svc, principal.workspace_id, identity_id, channel_id, body, True)


@router.get("/conversations", summary="List conversations")
async def list_conversations(
    principal: Auth,
    svc: Svc,
    channel_id: str | None = None,
    identity_id: str | None = None,
    failed: bool | None = Query(
        default=None, description="true: only conversations with a failed turn; false: only those without"
    ),
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=INT32_MAX),
) -> dict[str, Any]:
    failed_turns = (
        select(func.count(Turn.id))
        .where(Turn.conversation_id == Conversation.id, Turn.status == "failed")
        .correlate(Conversation)
        .scalar_subquery()
    )
    async with svc.db.sessionmaker() as session:
        query = (
            select(Conversation, Identity.external_id, failed_turns)
            .join(Identity, Identity.id == Conversation.identity_id)
            .where(Conversation.workspace_id == principal.workspace_id)
        )
        if channel_id is not None:
            query = query.where(Conversation.channel_id == channel_id)
        if identity_id is not None:
            query = query.where(Identity.external_id == identity_id)
        if failed is not None:
            query = query.where(failed_turns > 0 if failed else failed_turns == 0)
        rows = (
            await session.execute(
                query.order_by(Conversation.updated_at.desc(), Conversation.id).limit(limit + 1).offset(offset)
            )
        ).all()
    items = [
        {
            "id": conversation.id,
            "channel_id": conversation.channel_id,
            "identity_id": external_id,
            "created_at": conversation.created_at.isoformat(),
            "updated_at": conversation.updated_at.isoformat(),
            "failed_turns": failed_count,
        }
        for conversation, external_id, failed_count in rows[:limit]
    ]
    more = len(rows) > limit
    return ok(
        f"{len(items)} conversation(s)",
        {"conversations": items, "has_more": more, "next_offset": offset + limit if more else None},
    )


@router.get("/conversation/{conversation_id}/messages", summary="A conversation's stored messages")
async def list_messages(
    conversation_id: str,
    principal: Auth,
    svc: Svc,
    after: int = Query(default=0, ge=0, le=INT32_MAX, description="Return messages after this sequence number"),
    limit: int = Query(default=100, ge=1, le=500),
) -> dict[str, Any]:
    async with svc.db.sessionmaker() as session:
        conversation = await session.scalar(
            select(Conversation).where(
                Conversation.id == conversation_id, Conversation.workspace_id == principal.workspace_id
            )
        )
        if conversation is None:
            raise NotFound(f"No conversation {conversation_id} in this workspace")
        rows = (
            await session.scalars(
                select(Message)
                .where(Message.conversation_id == conversation_id, Message.seq > after)
                .order_by(Message.seq)
                .limit(limit + 1)
            )
        ).all()
    items = [
        {
            "id": row.id,
            "seq": row.seq,
            "turn_id": row.turn_id,
            **row.part,
            **({"meta": row.meta} if row.meta else {}),
            "created_at": row.created_at.isoformat(),
        }
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return ok(
        f"{len(items)} message(s)",
        {"messages": items, "has_more": more, "next_after": items[-1]["seq"] if more and items else None},
    )
