"""``create_app``: the billing worklist's Starlette application and its composition root.

The lifespan builds one frozen :class:`~worklist.context.WorklistContext` (the ledger engine,
the read model, the access log, the identity provider's client, the templates) and hands it to
every request as ``request.state.context``; nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypedDict
from urllib.parse import urlencode

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from claimflow.settings import ConfigurationError, Settings
from handlers.ledger.database import create_engine
from handlers.ledger.followup_rules import load_rules
from handlers.ledger.posting import Poster
from handlers.ledger.store import ClaimLedger
from worklist import pages, review_pages
from worklist.audit import AccessLog
from worklist.context import WorklistContext
from worklist.errors import (
    AccessDeniedError,
    SignInFailedError,
    SignInRequiredError,
    WorklistError,
)
from worklist.messages import WorklistTopics
from worklist.middleware import RequestLog, SecurityHeaders
from worklist.presentation import install_filters
from worklist.read_model import ReadModel
from worklist.sessions import SESSION_COOKIE, check_csrf, end_session, start_session
from worklist.sign_in import IdentityProvider

__all__ = ["create_app"]

HERE = Path(__file__).parent
_log = structlog.get_logger("claimflow.worklist")


class _State(TypedDict):
    context: WorklistContext


def _safe_next(target: str | None) -> str:
    """Only a path of this site (``/queues/denied?payer=…``), never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _login(request: Request) -> Response:
    context = pages.context_of(request)
    request.session["next"] = _safe_next(request.query_params.get("next"))
    return await context.identity.redirect(request)


async def _callback(request: Request) -> Response:
    context = pages.context_of(request)
    target = _safe_next(request.session.get("next"))
    try:
        person = await context.identity.complete(request)
    except SignInFailedError:
        end_session(request)
        await context.access_log.record(
            pages.access(request, "anonymous", "sign_in", "worklist", outcome="refused")
        )
        raise
    except AccessDeniedError as refused:
        end_session(request)
        await context.access_log.record(
            pages.access(
                request, refused.subject or "anonymous", "sign_in", "worklist", outcome="refused"
            )
        )
        raise
    start_session(request, person)
    await context.access_log.record(pages.access(request, person.subject, "sign_in", "worklist"))
    return RedirectResponse(target, status_code=303)


async def _logout(request: Request) -> Response:
    context = pages.context_of(request)
    async with request.form(max_files=0, max_fields=5) as form:
        check_csrf(request, form, context.settings.web.public_url)
    end_session(request)
    return RedirectResponse("/signed-out", status_code=303)


async def _signed_out(request: Request) -> Response:
    return pages.render(request, "signed_out.html", {})


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _readyz(request: Request) -> Response:
    context = pages.context_of(request)
    try:
        async with context.ledger.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any database failure means "not ready"
        return JSONResponse({"ready": False, "database": type(exc).__name__}, status_code=503)
    return JSONResponse({"ready": True})


async def _worklist_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WorklistError)
    if isinstance(exc, SignInRequiredError):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    _log.info("request refused", reason=type(exc).__name__, status=exc.status_code)
    return pages.render(
        request,
        "error.html",
        {"title": exc.title, "message": exc.message},
        status_code=exc.status_code,
    )


def _required(settings: Settings) -> None:
    web = settings.web
    for name in ("issuer", "client_id"):
        if not getattr(web, name):
            raise ConfigurationError(f"missing required setting CLAIMFLOW_WEB__{name.upper()}")
    secret = settings.require_secret("web", "session_secret").get_secret_value()
    if len(secret) < 32:
        raise ConfigurationError("CLAIMFLOW_WEB__SESSION_SECRET must be 32 characters or more")


def create_app(settings: Settings, *, engine: AsyncEngine | None = None) -> Starlette:
    """The worklist app; raises ``ConfigurationError`` at once when sign-in is not configured."""
    _required(settings)
    web = settings.web
    templates = Jinja2Templates(directory=HERE / "templates")
    install_filters(templates.env)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[_State]:
        used = engine or create_engine(settings.database)
        ledger = ClaimLedger(used)
        topics = WorklistTopics(prefix=settings.kafka.topic_prefix)
        try:
            yield {
                "context": WorklistContext(
                    settings=settings,
                    ledger=ledger,
                    poster=Poster(
                        rules=load_rules(settings.handlers.rules_file),
                        tolerance=settings.money_tolerance,
                        topic_prefix=settings.kafka.topic_prefix,
                    ),
                    read_model=ReadModel(used),
                    access_log=AccessLog(ledger, topics),
                    topics=topics,
                    identity=IdentityProvider(settings),
                    templates=templates,
                )
            }
        finally:
            if engine is None:
                await used.dispose()

    session_secret = settings.require_secret("web", "session_secret").get_secret_value()
    return Starlette(
        routes=[
            Route("/", pages.queues_overview, methods=["GET"]),
            Route("/queues/{kind}", pages.queue_list, methods=["GET"]),
            Route("/claims/{claim_id:int}", pages.claim_page, methods=["GET"]),
            Route("/claims/{claim_id:int}/notes", pages.add_claim_note, methods=["POST"]),
            Route(
                "/claims/{claim_id:int}/status-checks",
                pages.request_claim_status_check,
                methods=["POST"],
            ),
            Route("/attachments/{acn}/outcome", pages.mark_attachment_outcome, methods=["POST"]),
            Route("/review/{item_id:int}", review_pages.review_page, methods=["GET"]),
            Route("/review/{item_id:int}", review_pages.decide_review, methods=["POST"]),
            Route("/login", _login, methods=["GET"]),
            Route("/auth/callback", _callback, methods=["GET"]),
            Route("/logout", _logout, methods=["POST"]),
            Route("/signed-out", _signed_out, methods=["GET"]),
            Route("/healthz", _healthz, methods=["GET"]),
            Route("/readyz", _readyz, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[
            Middleware(RequestLog),
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=session_secret,
                session_cookie=SESSION_COOKIE,
                max_age=web.session_absolute_hours * 3600,
                same_site="lax",
                https_only=web.secure_cookies,
            ),
        ],
        exception_handlers={WorklistError: _worklist_error},
        lifespan=lifespan,
    )
