"""A real OpenAI-compatible HTTP server that answers chat completions with recorded layouts.

It stands in for GPT-4o, which cannot be reached here: ``POST /v1/chat/completions`` finds the user's prompt
and the canvas in the request (as ``planner.prompt_template`` writes them) and answers with the recorded
layout for them, in the exact shape of api.openai.com's reply (``planner_fakes.completion``).
A prompt without a recording gets OpenAI's 404 error shape. Every request body is kept for assertions.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from planner_fakes import completion

RECORDINGS_PATH = Path(__file__).with_name("data") / "recorded_layouts.jsonl"
CANVAS = re.compile(r"on a (\d+)x(\d+) pixel canvas")
RETRY_PREFIX = "Your previous layout was rejected"


def load_recordings(path: Path = RECORDINGS_PATH) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class ReplayServer:
    """``with ReplayServer(recordings) as server:`` serves at ``server.base_url`` (``.../v1``)."""

    def __init__(self, recordings: Iterable[dict]) -> None:
        self.layouts = {(r["prompt"], r["width"], r["height"]): r["layout"] for r in recordings}
        self.requests: list[dict] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                replay.requests.append(body)
                if self.path != "/v1/chat/completions":
                    return self._send(
                        404, {"error": {"message": "unknown path", "type": "invalid_request_error"}}
                    )
                key = replay.key_of(body["messages"])
                if key not in replay.layouts:
                    error = {
                        "message": f"no recording for {key}",
                        "type": "invalid_request_error",
                        "code": None,
                    }
                    return self._send(404, {"error": error})
                return self._send(200, completion(json.dumps(replay.layouts[key])))

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # quiet in test output
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @staticmethod
    def key_of(messages: list[dict]) -> tuple[str, int, int]:
        """(prompt, width, height) of a planner request: the last user message that is not a retry note."""
        canvas = CANVAS.search(messages[0]["content"])
        prompts = [
            m["content"]
            for m in messages
            if m["role"] == "user" and not m["content"].startswith(RETRY_PREFIX)
        ]
        return prompts[-1], int(canvas.group(1)), int(canvas.group(2))

    def __enter__(self) -> ReplayServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
