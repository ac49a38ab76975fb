"""JSON responses rendered with orjson: the API's only response body format."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as StarletteJSONResponse


class JSONResponse(StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        # Non-string keys occur in the OpenAPI document (YAML reads status codes as ints).
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
