"""The baseline: a bare Starlette endpoint that only parses the JSON body (no auth, no
validation, no Kafka), served by uvicorn exactly like the receiver."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def parse_only(request: Request) -> Response:
    document = json.loads(await request.body())
    return JSONResponse({"status": "accepted", "keys": len(document)})


app = Starlette(routes=[Route("/webhooks/redox", parse_only, methods=["POST"])])
