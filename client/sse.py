"""Server-sent events: the event-stream format, parsed line by line as the WHATWG HTML standard says
(section "Parsing an event stream"). Pure: the transports feed it the lines they read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    """One dispatched event. ``id`` is the stream's last event id when it was dispatched (an event without
    an ``id:`` line keeps the one before), which is what a reconnection sends as ``Last-Event-ID``."""

    event: str
    data: str
    id: str | None


class SSEDecoder:
    """Feed it the stream's lines without their line endings; a blank line dispatches the event.

    ``retry_ms`` is the reconnection time the server last asked for (``retry:``), None until it does.
    """

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None
        self._event = ""
        self._data: list[str] = []
        self._first = True

    def feed(self, line: str) -> Message | None:
        if self._first:  # a UTF-8 byte order mark may open the stream
            line, self._first = line.removeprefix("\ufeff"), False
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment: the server's heartbeat
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_event_id = value or None
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None  # other field names are ignored, as the standard says

    def _dispatch(self) -> Message | None:
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:  # a frame with no data (e.g. only `retry:`) dispatches nothing
            return None
        return Message(event=event, data="\n".join(data), id=self.last_event_id)
