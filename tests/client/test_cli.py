"""``regional client`` without a service: its progress display, and errors as exit code 1 (the commands
against the real service are in test_service.py)."""

from __future__ import annotations

import io

from servicekit import free_port

from client.cli import Progress
from client.core import Event
from regional.cli import main


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_elsewhere() -> None:
    events = [
        Event("status", {"status": "running", "stage": "generate", "attempts": 1}, "1-0"),
        Event("progress", {"stage": "sampling", "step": 3, "total_steps": 8, "fraction": 0.375}, "2-0"),
        Event("progress", {"stage": "sampling", "step": 8, "total_steps": 8, "fraction": 1.0}, "3-0"),
        Event("done", {"status": "succeeded"}, "4-0"),
    ]
    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        with Progress(stream) as progress:
            for event in events:
                progress.show(event)
    assert "running (attempt 1)" in terminal.getvalue() and "sampling: 100%" in terminal.getvalue()
    assert "8/8" in terminal.getvalue()
    assert log.getvalue().splitlines() == ["running (attempt 1)", "sampling 3/8", "sampling 8/8"]


def test_errors_exit_with_1_and_a_message(capsys, tmp_path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["client", "get", "gen_1", "--url", url]) == 1
    assert "regional client: GET " in capsys.readouterr().err

    bad = tmp_path / "layout.json"
    bad.write_text("{not json")
    assert main(["client", "submit", "--layout", str(bad), "--url", url]) == 1
    assert "is not JSON" in capsys.readouterr().err
    assert main(["client", "submit", "a cat", "--layout", str(bad), "--url", url]) == 1
    assert "give a prompt or --layout FILE" in capsys.readouterr().err

    assert main(["client", "submit", "a cat", "--steps", "0", "--url", url]) == 1  # refused before sending
    assert "steps" in capsys.readouterr().err


def test_a_base_url_that_is_not_a_url_is_named(capsys) -> None:
    assert main(["client", "list", "--url", "127.0.0.1:8000"]) == 1
    assert "is not an http(s) URL" in capsys.readouterr().err
