"""The bad-input corpus: requests a careless or hostile client sends. Each must get a 4xx problem+json."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from dataclasses import dataclass, field


@dataclass
class BadRequest:
    name: str
    method: str
    path: str
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    may_close: bool = False
    """The server may answer before reading the whole body and close the connection (an oversized body):
    the client may then see the connection reset instead of the answer."""


def png(width: int, height: int, text_first: bool = False, truncated: bool = False) -> bytes:
    """A grey PNG's bytes built by hand; ``text_first`` puts a tEXt chunk before IHDR (Pillow reads it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    text = chunk(b"tEXt", b"Comment\x00drill")
    rows = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(min(height, 64))))
    body = (text + header if text_first else header + text) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    data = b"\x89PNG\r\n\x1a\n" + body
    return data[: len(data) // 2] if truncated else data


def _layout(**changes: object) -> dict:
    layout: dict = {
        "width": 128,
        "height": 128,
        "base_prompt": "a red circle and a blue square",
        "regions": [{"prompt": "a red circle", "box": [0.0, 0.0, 0.5, 1.0]}],
    }
    layout.update(changes)
    return layout


def _region(**changes: object) -> dict:
    return {"layout": _layout(regions=[{"prompt": "a red circle", **changes}])}


def _mask(data: bytes) -> dict:
    return _region(mask=base64.b64encode(data).decode())


def bad_requests(key: str) -> list[BadRequest]:
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def post(name: str, body: object, path: str = "/v1/generations", **headers: str) -> BadRequest:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return BadRequest(name, "POST", path, raw, {**auth, **headers})

    def get(name: str, path: str, **headers: str) -> BadRequest:
        return BadRequest(name, "GET", path, b"", {**auth, **headers})

    good = {"layout": _layout()}
    surrogate = '"a fox \\udfff"'  # a lone surrogate, as a JSON escape (json.dumps would refuse to make it)
    cases = [
        BadRequest(
            "no key",
            "POST",
            "/v1/generations",
            json.dumps(good).encode(),
            {"Content-Type": "application/json"},
        ),
        post("wrong key", good, Authorization="Bearer not-a-key"),
        post("malformed authorization", good, Authorization="Basic Zm9vOmJhcg=="),
        post("invalid json", b'{"layout": '),
        post("json array", [1, 2, 3]),
        post("empty body", b""),
        post("not json", b"layout=1", **{"Content-Type": "application/x-www-form-urlencoded"}),
        BadRequest(
            "body over the limit",
            "POST",
            "/v1/generations",
            b'{"prompt": "' + b"a" * (9 * 1024 * 1024) + b'"}',
            auth,
            may_close=True,
        ),  # fmt: skip
        post("deeply nested json", b"[" * 100_000 + b"]" * 100_000),
        post("neither prompt nor layout", {"steps": 4}),
        post("both prompt and layout", {"prompt": "a fox", **good}),
        post("unknown field", {**good, "sampler": "euler"}),
        post("blank prompt", {"prompt": "   "}),
        post("prompt too long", {"prompt": "a fox " * 2000}),
        post("prompt not a string", {"prompt": ["a fox"]}),
        post("lone surrogate in prompt", b'{"prompt": ' + surrogate.encode() + b"}"),
        post(
            "lone surrogate in base prompt",
            b'{"layout": {"width": 128, "height": 128, "base_prompt": ' + surrogate.encode() + b"}}",
        ),
        post(
            "lone surrogate in region prompt",
            b'{"layout": {"width": 128, "height": 128, "base_prompt": "a fox", "regions": '
            b'[{"prompt": ' + surrogate.encode() + b', "box": [0, 0, 1, 1]}]}}',
        ),
        post(
            "lone surrogate in negative prompt",
            b'{"layout": {"width": 128, "height": 128, "base_prompt": "a fox", "negative_prompt": '
            + surrogate.encode()
            + b"}}",
        ),
        post("width not on the token grid", {"layout": _layout(width=100)}),
        post("width over the limit", {"layout": _layout(width=8192)}),
        post("width zero", {"layout": _layout(width=0)}),
        post("width negative", {"layout": _layout(width=-128)}),
        post("width a float", {"layout": _layout(width=128.5)}),
        post("prompt job width off grid", {"prompt": "a fox", "width": 1000}),
        post("steps zero", {**good, "steps": 0}),
        post("steps over the limit", {**good, "steps": 10**9}),
        post("guidance negative", {**good, "guidance": -1}),
        post("seed negative", {**good, "seed": -1}),
        post("seed too large", {**good, "seed": 2**70}),
        post("num_images zero", {**good, "num_images": 0}),
        post("num_images over the limit", {**good, "num_images": 1000}),
        post("base ratio over 1", {**good, "base_ratio": 1.5}),
        post("NaN base ratio", b'{"layout": ' + json.dumps(_layout()).encode() + b', "base_ratio": NaN}'),
        post("unknown planner", {"prompt": "a fox", "planner": "gpt-9"}),
        post(
            "too many regions", {"layout": _layout(regions=[{"prompt": "a fox", "box": [0, 0, 1, 1]}] * 40)}
        ),
        post("box outside the canvas", _region(box=[0, 0, 2, 1])),
        post("box inverted", _region(box=[0.8, 0, 0.2, 1])),
        post("box with three numbers", _region(box=[0, 0, 1])),
        post("region without box or mask", _region()),
        post("mask not base64", _region(mask="%%% not base64 %%%")),
        post("mask not a png", _mask(b"GIF89a" + b"\x00" * 100)),
        post("mask truncated png", _mask(png(128, 128, truncated=True))),
        post("mask over the pixel limit", _mask(png(4096, 4096))),
        post("mask over the pixel limit, tEXt before IHDR", _mask(png(4096, 4096, text_first=True))),
        post("idempotency key too long", good, **{"Idempotency-Key": "k" * 1000}),
        post("plan: blank prompt", {"prompt": " "}, path="/v1/plans"),
        post("plan: lone surrogate", b'{"prompt": ' + surrogate.encode() + b"}", path="/v1/plans"),
        post("plan: width off grid", {"prompt": "a fox", "width": 1001}, path="/v1/plans"),
        get("unknown generation", "/v1/generations/gen_0000000000000000"),
        get("id with path traversal", "/v1/generations/..%2F..%2Fetc%2Fpasswd"),
        get("very long id", "/v1/generations/" + "g" * 5000),
        get("malformed cursor", "/v1/generations?cursor=%%%"),
        get("cursor of garbage base64", "/v1/generations?cursor=Zm9vYmFy"),
        get("limit zero", "/v1/generations?limit=0"),
        get("limit over the maximum", "/v1/generations?limit=100000"),
        get("unknown status filter", "/v1/generations?status=exploded"),
        get("image of an unknown job", "/v1/generations/gen_0000000000000000/images/0"),
        get("image index not a number", "/v1/generations/gen_0000000000000000/images/first"),
        get("unknown path", "/v1/nothing-here"),
        BadRequest("method not allowed", "PUT", "/v1/generations", json.dumps(good).encode(), auth),
        post("cancel an unknown job", {}, path="/v1/generations/gen_0000000000000000/cancel"),
    ]
    return cases
