"""``json_text``: a value inside a JSON document stored as text, as SQL text on both databases.

The ledger keeps each payment's message as JSON text (``payload``). SQLite reads it with
``json_extract``; PostgreSQL casts the text to ``json`` and follows the path with ``#>>``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

__all__ = ["json_text"]


class _JsonText(FunctionElement[str]):
    type = String()
    inherit_cache = True
    name = "json_text"

    def __init__(self, document: ColumnElement[Any], path: tuple[str, ...]) -> None:
        self.path = path
        super().__init__(document)


@compiles(_JsonText, "sqlite")
def _sqlite(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(element.clauses, **kw)
    path = "$." + ".".join(element.path)
    return f"CAST(json_extract({document}, '{path}') AS TEXT)"


@compiles(_JsonText, "postgresql")
def _postgresql(element: _JsonText, compiler: SQLCompiler, **kw: Any) -> str:
    document = compiler.process(element.clauses, **kw)
    path = "{" + ",".join(element.path) + "}"
    return f"(CAST({document} AS JSON) #>> '{path}')"


def json_text(document: Any, *path: str) -> ColumnElement[str]:
    """The text at ``path`` (plain keys, fixed by the code, never user input) in ``document``."""
    for key in path:
        if not key.replace("_", "").isalnum():
            raise ValueError(f"not a plain JSON key: {key!r}")
    return _JsonText(document, path)
