"""HA's chat content and tools in Ollama's shapes, and first repairs of what small models send."""

from __future__ import annotations

from collections.abc import Callable
import json
from typing import Any

from homeassistant.components import conversation
from homeassistant.helpers import llm
from homeassistant.helpers.json import json_dumps
import ollama
import probatio


def format_tool(tool: llm.Tool, serializer: Callable[[Any], Any] | None) -> dict[str, Any]:
    """An HA tool as an Ollama function tool."""
    spec: dict[str, Any] = {
        "name": tool.name,
        "parameters": probatio.to_openapi(
            tool.parameters, custom_serializer=serializer, openapi_version="3.1.0"
        ),
    }
    if tool.description:
        spec["description"] = tool.description
    return {"type": "function", "function": spec}


def _repair_argument(value: Any) -> Any:
    """Small models sometimes send a JSON list/object as a string."""
    if isinstance(value, str) and value[:1] in "[{" and value[-1:] in "]}":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def tool_args(arguments: Any) -> dict[str, Any]:
    """Clean tool arguments: parse stringified JSON, drop empty values intents would reject."""
    if isinstance(arguments, str):
        arguments = _repair_argument(arguments)
    if not isinstance(arguments, dict):
        return {}
    return {k: _repair_argument(v) for k, v in arguments.items() if v not in (None, "")}


def convert_content(content: conversation.Content) -> ollama.Message:
    """One ChatLog entry as an Ollama message."""
    if isinstance(content, conversation.ToolResultContent):
        return ollama.Message(
            role="tool",
            content=json_dumps({"data": content.result.data, "error": content.result.error}),
            tool_name=content.tool_name,
        )
    if isinstance(content, conversation.AssistantContent):
        return ollama.Message(
            role="assistant",
            content=content.content or "",
            thinking=content.thinking_content,
            tool_calls=[
                ollama.Message.ToolCall(
                    function=ollama.Message.ToolCall.Function(
                        name=call.tool_name, arguments=call.tool_args
                    )
                )
                for call in content.tool_calls or ()
            ]
            or None,
        )
    if isinstance(content, conversation.UserContent):
        return ollama.Message(role="user", content=content.content)
    return ollama.Message(role="system", content=content.content)


def trim_history(messages: list[ollama.Message], max_history: int) -> list[ollama.Message]:
    """Keep the system prompt and the last `max_history` earlier user turns (0 = keep all)."""
    if max_history < 1:
        return messages
    user_indexes = [i for i, m in enumerate(messages) if m.role == "user"]
    if len(user_indexes) - 1 <= max_history:  # the last user message is the current one
        return messages
    first_kept = user_indexes[-(max_history + 1)]
    head = messages[:1] if messages and messages[0].role == "system" else []
    return head + messages[first_kept:]
