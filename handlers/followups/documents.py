"""The claim document store: the files an attachment sends, on a directory (a mountable volume).

Layout (docs/documents.md)::

    <root>/<claim submission number>/<LOINC code>/<file>

for example ``/documents/CLM-00017/11506-3/progress-note.pdf``. Every regular, non-hidden file
in a LOINC directory is one document of that kind. Allowed types, by extension: ``.pdf``,
``.tif``/``.tiff``, ``.jpg``/``.jpeg``, ``.png``, ``.txt``; each file at most
``HandlerSettings.max_document_bytes``.

The claim number comes from outside (a payer's remittance): it is sanitised to
``[A-Za-z0-9._-]`` (anything else becomes ``_``), ``.``/``..`` are refused, and every path is
checked to stay under the root after symlinks are resolved.

Errors (all permanent: retrying will not make a document appear)::

    DocumentStoreError
    ├── DocumentsMissingError    no directory or no file for a LOINC code
    └── DocumentRejectedError    a file of a type not allowed, too large, or outside the root

Messages name LOINC codes, extensions and sizes only: never a file name (they may carry a
patient's name) or a claim number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CONTENT_TYPES",
    "Document",
    "DocumentRejectedError",
    "DocumentStore",
    "DocumentStoreError",
    "DocumentsMissingError",
    "claim_directory_name",
]

#: Allowed extensions and the MIME type (type, subtype) each is sent as.
CONTENT_TYPES: dict[str, tuple[str, str]] = {
    ".pdf": ("application", "pdf"),
    ".tif": ("image", "tiff"),
    ".tiff": ("image", "tiff"),
    ".jpg": ("image", "jpeg"),
    ".jpeg": ("image", "jpeg"),
    ".png": ("image", "png"),
    ".txt": ("text", "plain"),
}

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_LOINC = re.compile(r"^\d{1,7}-\d$")


class DocumentStoreError(Exception):
    """The documents of an attachment cannot be gathered."""


class DocumentsMissingError(DocumentStoreError):
    def __init__(self, loinc_codes: list[str]) -> None:
        super().__init__(f"no documents for LOINC {', '.join(loinc_codes)}")
        self.loinc_codes = loinc_codes


class DocumentRejectedError(DocumentStoreError):
    """A document that must not be sent (type, size, or a path outside the store)."""


@dataclass(frozen=True, slots=True)
class Document:
    loinc_code: str
    filename: str = field(repr=False)
    content_type: tuple[str, str]
    data: bytes = field(repr=False)


def claim_directory_name(claim_number: str) -> str:
    """The directory of a claim: its number with every character outside ``[A-Za-z0-9._-]``
    replaced by ``_``. Raises ``DocumentRejectedError`` for an empty name, ``.`` or ``..``."""
    name = _UNSAFE.sub("_", claim_number.strip())
    if name in ("", ".", ".."):
        raise DocumentRejectedError("the claim number cannot name a directory")
    return name


class DocumentStore:
    """Reads a claim's documents by LOINC code from ``root``."""

    def __init__(self, root: Path, *, max_bytes: int) -> None:
        self._root = root
        self._max_bytes = max_bytes

    @property
    def root(self) -> Path:
        return self._root

    def gather(self, claim_number: str, loinc_codes: list[str]) -> list[Document]:
        """Every document of ``claim_number`` for each code; all codes must have one."""
        root = self._root.resolve()
        claim_dir = root / claim_directory_name(claim_number)
        documents: list[Document] = []
        missing: list[str] = []
        for code in loinc_codes:
            if not _LOINC.match(code):
                raise DocumentRejectedError("a requested code is not a LOINC code")
            found = self._documents(root, claim_dir / code, code)
            if not found:
                missing.append(code)
            documents.extend(found)
        if missing:
            raise DocumentsMissingError(missing)
        return documents

    def _documents(self, root: Path, directory: Path, code: str) -> list[Document]:
        if not directory.is_dir():
            return []
        if not directory.resolve().is_relative_to(root):
            raise DocumentRejectedError(f"the LOINC {code} directory lies outside the store")
        documents = []
        for path in sorted(directory.iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            documents.append(self._read(root, path, code))
        return documents

    def _read(self, root: Path, path: Path, code: str) -> Document:
        if not path.resolve().is_relative_to(root):
            raise DocumentRejectedError(f"a LOINC {code} document lies outside the store")
        extension = path.suffix.lower()
        content_type = CONTENT_TYPES.get(extension)
        if content_type is None:
            raise DocumentRejectedError(
                f"a LOINC {code} document has a type that is not allowed ({extension or 'none'})"
            )
        size = path.stat().st_size
        if size > self._max_bytes:
            raise DocumentRejectedError(
                f"a LOINC {code} document is {size} bytes, over the {self._max_bytes} limit"
            )
        if size == 0:
            raise DocumentRejectedError(f"a LOINC {code} document is empty")
        return Document(
            loinc_code=code, filename=path.name, content_type=content_type, data=path.read_bytes()
        )
