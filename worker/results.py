"""The image store: content-addressed PNGs with a metadata JSON beside each, through fsspec.

``RESULTS_URL`` is a local directory (default ``results``) or any fsspec URL, e.g. ``s3://bucket/prefix``
with s3fs installed (``FSSPEC_S3_ENDPOINT_URL`` / ``AWS_*`` variables point it at MinIO).
Paths: ``<root>/images/<sha[:2]>/<sha>.png`` and ``<sha>.json``; the hash is over the PNG bytes.
Input images clients send (``api/uploads.py``) are kept as sent, at ``<root>/inputs/<sha[:2]>/<sha>``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import fsspec

S3_PROTOCOLS = frozenset({"s3", "s3a"})


class ResultStore:
    def __init__(self, url: str) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(url)
        protocols = {self.fs.protocol} if isinstance(self.fs.protocol, str) else set(self.fs.protocol)
        # S3 has no directories: s3fs's makedirs would only create the bucket when it is missing (hiding a
        # misspelt RESULTS_URL, and failing on keys allowed only to put objects); a missing bucket must fail.
        self._s3 = bool(protocols & S3_PROTOCOLS)

    def _path(self, sha256: str, suffix: str, folder: str = "images") -> str:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{self.root.rstrip('/')}/{folder}/{sha256[:2]}/{sha256}{suffix}"

    def _makedirs(self, path: str) -> None:
        if not self._s3:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)

    def _write(self, path: str, data: bytes, content_type: str) -> None:
        if self._s3:  # one PUT each, atomic; the type is for anyone reading the bucket directly
            self.fs.pipe_file(path, data, ContentType=content_type)
        else:
            self.fs.pipe_file(path, data)

    def put(self, png: bytes, metadata: dict[str, Any]) -> str:
        """Store a PNG and its metadata (metadata first: a PNG present has its JSON); returns its sha256."""
        sha256 = hashlib.sha256(png).hexdigest()
        path = self._path(sha256, ".png")
        self._makedirs(path)
        self._write(self._path(sha256, ".json"), json.dumps(metadata, indent=2).encode(), "application/json")
        self._write(path, png, "image/png")
        return sha256

    def get_png(self, sha256: str) -> bytes:
        """Raises FileNotFoundError when it is not there."""
        return self.fs.cat_file(self._path(sha256, ".png"))

    def get_metadata(self, sha256: str) -> dict[str, Any]:
        return json.loads(self.fs.cat_file(self._path(sha256, ".json")))

    def put_input(self, data: bytes, content_type: str) -> str:
        """Store an input image as sent (checked by the API first); returns its sha256. The same bytes land
        on the same path and are written once: a worker may be reading them."""
        sha256 = hashlib.sha256(data).hexdigest()
        path = self._path(sha256, "", folder="inputs")
        if not self.fs.exists(path):
            self._makedirs(path)
            self._write(path, data, content_type)
        return sha256

    def get_input(self, sha256: str) -> bytes:
        """Raises FileNotFoundError when it is not there (never stored, or expired by the operator)."""
        return self.fs.cat_file(self._path(sha256, "", folder="inputs"))
