"""Tool calls as small models write them: printed as text, under a name HA does not offer.

Small models often print a call instead of making it (`{"name": "HassTurnOff", "arguments":
{...}}`, in a code fence, or between `<tool_call>` tags as Qwen and Hermes models do), and
often use the intent's plain name while HA offers it with a prefix (`intent__HassTurnOff`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
import json
import re
from typing import Any

FENCE = re.compile(r"^```[\w-]*[ \t]*\n?(?P<body>.*?)\n?[ \t]*```$", re.DOTALL)
TOOL_CALL_TAG = re.compile(r"<tool_call>(?P<body>.*?)(?:</tool_call>|\Z)", re.DOTALL)
PREFIX_SEPARATOR = re.compile(r"__|\.")

# First characters of a reply that may be a printed tool call: held back until complete.
PRINTED_CALL_STARTS = ("{", "[", "`", "<")


@dataclass(frozen=True, slots=True)
class PrintedCall:
    """A tool call found in a reply's text."""

    name: str
    arguments: Any  # as printed: usually an object, sometimes an object in a string


def _unfence(text: str) -> str:
    text = text.strip()
    if match := FENCE.match(text):
        return match.group("body").strip()
    return text


def _as_call(data: Any) -> PrintedCall | None:
    """`{"name": ..., "arguments"/"parameters": ...}`, possibly inside `{"function": ...}`."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("function"), dict):
        data = data["function"]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        return None
    for key in ("arguments", "parameters"):
        if key in data:
            return PrintedCall(name.strip(), data[key])
    return None


def printed_tool_calls(text: str) -> list[PrintedCall] | None:
    """The tool calls a reply is made of, or None when it is anything else.

    A reply counts only when it is nothing but calls: one JSON object, a list of them, or
    `<tool_call>` blocks, each optionally in a code fence.
    """
    body = text.strip()
    if body.startswith("<tool_call>"):
        if TOOL_CALL_TAG.sub("", body).strip():
            return None  # text besides the calls: a reply, not a call
        blocks = [_unfence(m.group("body")) for m in TOOL_CALL_TAG.finditer(body)]
    else:
        blocks = [_unfence(body)]
    calls: list[PrintedCall] = []
    for block in blocks:
        try:
            data = json.loads(block)
        except ValueError:
            return None
        for item in data if isinstance(data, list) else [data]:
            if (call := _as_call(item)) is None:
                return None
            calls.append(call)
    return calls or None


def bare_name(name: str) -> str:
    """A tool's name without its namespace: `intent__HassTurnOn` -> `HassTurnOn`."""
    return PREFIX_SEPARATOR.split(name.strip())[-1]


def matching_tool_names(name: str, offered: Iterable[str]) -> list[str]:
    """The offered tools `name` can mean: itself, else those with the same bare name."""
    offered = list(offered)
    if name in offered:
        return [name]
    wanted = bare_name(name).casefold()
    return [tool for tool in offered if bare_name(tool).casefold() == wanted]


def resolve_tool_name(name: str, offered: Iterable[str]) -> str | None:
    """The one offered tool `name` means, or None when there is none or several."""
    matches = matching_tool_names(name, offered)
    return matches[0] if len(matches) == 1 else None
