"""Small repairs of what small models send, history trimming, keep-alive values."""

from __future__ import annotations

from typing import Any

import ollama
import pytest

from custom_components.jarvis.llm_loop import keep_alive_value
from custom_components.jarvis.messages import tool_args, trim_history


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"name": "Kitchen", "area": "", "floor": None}, {"name": "Kitchen"}),
        ({"domain": '["light"]'}, {"domain": ["light"]}),
        ({"data": "{not json}"}, {"data": "{not json}"}),
        ('{"name": "Kitchen"}', {"name": "Kitchen"}),  # the whole argument object as a string
        ("not json", {}),
        (None, {}),
    ],
)
def test_tool_args_are_cleaned(arguments: Any, expected: dict[str, Any]) -> None:
    assert tool_args(arguments) == expected


def _turns(n: int) -> list[ollama.Message]:
    messages = [ollama.Message(role="system", content="persona")]
    for i in range(n):
        messages += [
            ollama.Message(role="user", content=f"q{i}"),
            ollama.Message(role="assistant", content=f"a{i}"),
        ]
    return [*messages, ollama.Message(role="user", content="now")]


@pytest.mark.parametrize(
    ("turns", "max_history", "kept"),
    [
        (5, 0, ["persona", "q0", "a0", "q1", "a1", "q2", "a2", "q3", "a3", "q4", "a4", "now"]),
        (5, 2, ["persona", "q3", "a3", "q4", "a4", "now"]),
        (1, 2, ["persona", "q0", "a0", "now"]),
    ],
)
def test_trim_history(turns: int, max_history: int, kept: list[str]) -> None:
    assert [m.content for m in trim_history(_turns(turns), max_history)] == kept


def test_keep_alive() -> None:
    assert keep_alive_value(-1) == -1  # Ollama wants the integer for "forever"
    assert keep_alive_value(0) == "0s"
    assert keep_alive_value(600) == "600s"
