"""The bare baseline for bench/http_bench.py: Starlette + asyncpg and nothing else.

POST inserts one row; GET selects 50 rows and returns them as JSON. It is served by
the same uvicorn settings and the same PostgreSQL as the service, so the service's
figures can be read as ratios to what the stack itself allows on this machine.
It encodes with orjson, as the service does, so the ratio measures the service's own
work rather than a JSON library.

Run: BENCH_DATABASE_URL=postgresql://... uvicorn baseline_app:create_app --factory
     --app-dir bench --workers 2 (the table is created by http_bench.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_baseline (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    author_name text NOT NULL,
    body        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
)
"""


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


async def post_item(request: Request) -> Response:
    data = orjson.loads(await request.body())
    async with request.state.pool.acquire() as conn:
        item_id = await conn.fetchval(
            "INSERT INTO bench_baseline (author_name, body) VALUES ($1, $2) RETURNING id",
            data["author"]["name"],
            data["body"],
        )
    return _json({"id": item_id, "status": "pending"}, status_code=202)


async def get_items(request: Request) -> Response:
    async with request.state.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id, author_name, body, created_at FROM bench_baseline ORDER BY id LIMIT 50"
        )
    items = [
        {
            "id": row["id"],
            "author": {"name": row["author_name"]},
            "body": row["body"],
            "created_at": row["created_at"].isoformat(),
        }
        for row in rows
    ]
    return _json({"items": items})


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # The same pool bounds as the service's defaults (db_pool_min/db_pool_max).
        pool = await asyncpg.create_pool(os.environ["BENCH_DATABASE_URL"], min_size=2, max_size=10)
        try:
            yield {"pool": pool}
        finally:
            await pool.close()

    return Starlette(
        routes=[
            Route("/items", post_item, methods=["POST"]),
            Route("/items", get_items, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
