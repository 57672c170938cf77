"""The event-stream parser, line by line, on the cases the WHATWG standard spells out."""

from __future__ import annotations

from client.sse import Message, SSEDecoder


def decode(text: str, decoder: SSEDecoder | None = None) -> list[Message]:
    decoder = decoder or SSEDecoder()
    messages = [decoder.feed(line) for line in text.split("\n")]
    return [m for m in messages if m is not None]


def test_fields_make_one_event_per_blank_line() -> None:
    text = 'retry: 2000\n\nid: 5-0\nevent: status\ndata: {"status": "running"}\n\n: heartbeat\n\n'
    decoder = SSEDecoder()
    assert decode(text, decoder) == [Message("status", '{"status": "running"}', "5-0")]
    assert decoder.retry_ms == 2000 and decoder.last_event_id == "5-0"


def test_data_lines_join_with_newlines_and_one_leading_space_goes() -> None:
    assert decode("data:first\ndata:  second\ndata\n\n") == [Message("message", "first\n second\n", None)]


def test_the_id_carries_over_to_events_without_one_and_an_empty_id_clears_it() -> None:
    messages = decode("id: 1-0\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", SSEDecoder("0-9"))
    assert [(m.data, m.id) for m in messages] == [("a", "1-0"), ("b", "1-0"), ("c", None)]


def test_the_event_type_is_reset_after_each_event() -> None:
    assert [m.event for m in decode("event: progress\ndata: 1\n\ndata: 2\n\n")] == ["progress", "message"]


def test_frames_without_data_dispatch_nothing_and_unknown_fields_are_ignored() -> None:
    decoder = SSEDecoder()
    assert decode("event: status\n\nfoo: bar\nretry: soon\nid: a\0b\n\n", decoder) == []
    assert decoder.retry_ms is None and decoder.last_event_id is None


def test_an_unfinished_event_at_the_end_of_the_stream_is_not_dispatched() -> None:
    assert decode("data: whole\n\ndata: half") == [Message("message", "whole", None)]


def test_a_byte_order_mark_opens_the_stream() -> None:
    assert decode("\ufeffdata: x\n\n") == [Message("message", "x", None)]
