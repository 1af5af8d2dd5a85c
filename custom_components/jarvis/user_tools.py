"""Tools the user declares in `jarvis_tools.yaml` (HA's config folder), reloaded while HA runs.

```yaml
allowed_hosts:              # the only hosts HTTP tools may call ("host" or "host:port")
  - 192.168.1.20:8080
tools:
  bedtime:                  # offered to the model as jarvis__bedtime
    description: Starts the bedtime routine in a room.
    script: script.bedtime  # runs the script, the arguments as its variables
    timeout: 30             # seconds to wait for the script (it goes on after that)
    parameters:
      room: {type: string, description: The room, required: true}
  bin_day:
    description: Says which bin goes out this week.
    template: "{{ states('sensor.bin_day') }}"   # HA's sandboxed Jinja, arguments as variables
  weather_station:
    description: Reads the garden weather station.
    http:
      url: http://192.168.1.20:8080/api/{{ sensor }}   # templates: url, params, headers, json
      method: GET                                       # or POST
      params: {units: metric}
      timeout: 5                                        # seconds (at most 60)
      max_bytes: 16384                                  # response size cap (at most 1 MiB)
    parameters:
      sensor: {type: enum, values: [temperature, wind], required: true}
```

Argument types: string, number, boolean, enum (with `values`); `required` defaults to false.
`!secret` works (e.g. for a header's token). The file is read again when it changes (its
modification time is checked every few seconds) and on the `jarvis.reload` action. A tool that is
wrong raises a repair issue naming the file and line and is not offered; the others are. A file
that cannot be parsed at all raises one and keeps the tools loaded before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import json
from pathlib import Path
import re
from typing import Any, override

import aiohttp
from homeassistant.core import Context, HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import HomeAssistantError, TemplateError
from homeassistant.helpers import config_validation as cv, issue_registry as ir, llm
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.service import async_register_admin_service
from homeassistant.helpers.template import Template
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey
from homeassistant.util.json import JsonValueType
from homeassistant.util.yaml.loader import Secrets, load_yaml
import probatio
import yarl

from .const import DOMAIN, LOGGER

TOOLS_FILE = "jarvis_tools.yaml"
POLL_INTERVAL = timedelta(seconds=5)
DATA_USER_TOOLS: HassKey[UserTools] = HassKey(f"{DOMAIN}_user_tools")
SERVICE_RELOAD = "reload"

ISSUE_TOOL_INVALID = "user_tool_invalid"  # one tool is wrong (one issue per tool)
ISSUE_FILE_INVALID = "user_tools_file_invalid"  # the file's own keys are wrong
ISSUE_FILE_UNREADABLE = "user_tools_unreadable"  # not YAML: nothing could be read
ISSUE_PREFIX = "user_tools_"

TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
KINDS = ("script", "template", "http")
PARAM_TYPES = ("string", "number", "boolean", "enum")
DEFAULT_SCRIPT_TIMEOUT = 30.0
DEFAULT_HTTP_TIMEOUT = 10.0
MAX_TIMEOUT = 60.0
DEFAULT_MAX_BYTES = 16384
MAX_BYTES = 1024 * 1024
MAX_RESULT_CHARS = 4000  # text given back to the model

PARAMETER_SCHEMA = probatio.Schema(
    {
        probatio.Required("type"): probatio.In(list(PARAM_TYPES)),
        probatio.Optional("description"): str,
        probatio.Optional("required", default=False): bool,
        probatio.Optional("values"): probatio.All([probatio.Coerce(str)], probatio.Length(min=1)),
    }
)
HTTP_SCHEMA = probatio.Schema(
    {
        probatio.Required("url"): str,
        probatio.Optional("method", default="GET"): probatio.All(
            str, probatio.Upper, probatio.In(["GET", "POST"])
        ),
        probatio.Optional("params"): {str: probatio.Coerce(str)},
        probatio.Optional("headers"): {str: probatio.Coerce(str)},
        probatio.Optional("json"): object,
        probatio.Optional("timeout", default=DEFAULT_HTTP_TIMEOUT): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0.1, max=MAX_TIMEOUT)
        ),
        probatio.Optional("max_bytes", default=DEFAULT_MAX_BYTES): probatio.All(
            int, probatio.Range(min=1, max=MAX_BYTES)
        ),
    }
)
TOOL_SCHEMA = probatio.Schema(
    {
        probatio.Required("description"): probatio.All(str, probatio.Length(min=1, max=2000)),
        probatio.Optional("parameters", default={}): {str: PARAMETER_SCHEMA},
        probatio.Optional("script"): cv.entity_domain("script"),
        probatio.Optional("template"): str,
        probatio.Optional("http"): HTTP_SCHEMA,
        probatio.Optional("timeout", default=DEFAULT_SCRIPT_TIMEOUT): probatio.All(
            probatio.Coerce(float), probatio.Range(min=0.1, max=MAX_TIMEOUT)
        ),
    }
)


def _tools_mapping(value: Any) -> Any:
    if value is None or isinstance(value, Mapping):
        return value
    raise probatio.Invalid("a mapping of tool names to their definitions (not a list)")


FILE_SCHEMA = probatio.Schema(
    {
        probatio.Optional("allowed_hosts", default=[]): [str],
        probatio.Optional("tools", default={}): _tools_mapping,
    }
)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in the file: where, which tool, what."""

    line: int
    message: str
    tool: str | None = None


class DefinitionError(Exception):
    """A tool definition is wrong; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        """The problems found."""
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def line_of(node: Any, default: int = 0) -> int:
    """The line a loaded YAML node starts on (HA's loader records it), else `default`."""
    line = getattr(node, "__line__", None)
    return line if isinstance(line, int) else default


def line_at(root: Any, path: list[Any]) -> int:
    """The line of the deepest node of `path` under `root` that has one."""
    line = line_of(root)
    node = root
    for step in path:
        if isinstance(node, Mapping):
            key = next((k for k in node if k == step), None)
            if key is None:
                break
            line = line_of(key, line)
            node = node[key]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            break
        line = line_of(node, line)
    return line


def _invalid_problems(err: probatio.Invalid, root: Any, tool: str | None) -> list[Problem]:
    errors = err.errors if isinstance(err, probatio.MultipleInvalid) else [err]
    problems = []
    for error in errors:
        path = list(error.path)
        where = ".".join(str(p) for p in path)
        message = "unknown option" if isinstance(error, probatio.ExtraKeysInvalid) else error.msg
        problems.append(
            Problem(line_at(root, path), f"{where}: {message}" if where else message, tool)
        )
    return problems


def _parse_host(entry: str) -> tuple[str, int | None] | None:
    """'host' or 'host:port' as (host, port); None when it is not that."""
    try:
        url = yarl.URL(f"http://{entry.strip()}")
    except ValueError:
        return None
    if not url.host or url.path not in ("", "/") or url.query_string or url.user:
        return None
    return url.host.lower(), url.explicit_port


def host_allowed(url: yarl.URL, allowed: frozenset[tuple[str, int | None]]) -> bool:
    """Whether `url` goes to an allowed host (and port, when the entry names one)."""
    host = (url.host or "").lower()
    return any(host == h and (port is None or port == url.port) for h, port in allowed)


# --- the tools ---------------------------------------------------------------------------


class UserTool(llm.Tool):
    """A tool of the file; `async_run` does the work, errors become an error result."""

    integration = DOMAIN
    kind = ""

    def __init__(
        self, name: str, description: str, parameters: probatio.Schema, source: str
    ) -> None:
        """A tool offered as `jarvis__<name>`; `source` is 'file, line N'."""
        self.name = f"{DOMAIN}__{name}"
        self.title = name
        self.description = description
        self.parameters = parameters
        self.source = source

    @override
    async def async_call(
        self, hass: HomeAssistant, tool_input: llm.ToolInput, llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        try:
            return await self.async_run(hass, dict(tool_input.tool_args), llm_context)
        except TemplateError as err:
            return _error("template_error", f"Its template failed: {err}")

    async def async_run(
        self, hass: HomeAssistant, args: dict[str, Any], llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        """Do what the tool does."""
        raise NotImplementedError


def _error(code: str, message: str, **more: JsonValueType) -> llm.ToolResult:
    return llm.ToolResult(data={"error": code, "message": message, **more}, error=True)


def _capped(text: str) -> tuple[str, bool]:
    return text[:MAX_RESULT_CHARS], len(text) > MAX_RESULT_CHARS


class ScriptTool(UserTool):
    """Runs an HA script, the arguments as its variables; returns its response."""

    kind = "script"

    def __init__(self, *args: Any, script: str, timeout: float) -> None:
        """Run `script` (an entity id), waiting `timeout` seconds at most."""
        super().__init__(*args)
        self.script = script
        self.timeout = timeout

    @override
    async def async_run(
        self, hass: HomeAssistant, args: dict[str, Any], llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        object_id = self.script.split(".", 1)[1]
        if not hass.services.has_service("script", object_id):
            return _error("no_script", f"{self.script} does not exist (declared at {self.source})")
        call = hass.async_create_task(
            hass.services.async_call(
                "script",
                object_id,
                args,
                blocking=True,
                context=llm_context.context or Context(),
                return_response=True,
            ),
            f"jarvis tool {self.name}",
        )
        try:
            async with asyncio.timeout(self.timeout):
                response = await asyncio.shield(call)
        except TimeoutError:
            return llm.ToolResult(
                data={"status": "running", "message": f"{self.script} started, still running"}
            )
        except HomeAssistantError as err:
            return _error("script_failed", f"{self.script} failed: {err}")
        return llm.ToolResult(data={"status": "done", "response": dict(response or {})})


class TemplateTool(UserTool):
    """Renders an HA template (sandboxed Jinja) with the arguments as variables."""

    kind = "template"
    annotations = llm.ToolAnnotations(read_only=True, destructive=False, open_world=False)

    def __init__(self, *args: Any, template: Template) -> None:
        """Render `template`."""
        super().__init__(*args)
        self.template = template

    @override
    async def async_run(
        self, hass: HomeAssistant, args: dict[str, Any], llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        text, truncated = _capped(
            str(self.template.async_render(variables=args, parse_result=False)).strip()
        )
        data: dict[str, JsonValueType] = {"result": text}
        if truncated:
            data["truncated"] = True
        return llm.ToolResult(data=data)


@dataclass(frozen=True, slots=True)
class HttpCall:
    """What an HTTP tool sends (every string a template)."""

    url: Template
    method: str
    params: dict[str, Template]
    headers: dict[str, Template]
    json: Any  # JSON with Templates for its strings
    timeout: float
    max_bytes: int


def _render(value: Any, args: dict[str, Any]) -> Any:
    if isinstance(value, Template):
        return value.async_render(variables=args, parse_result=False)
    if isinstance(value, dict):
        return {k: _render(v, args) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, args) for v in value]
    return value


class HttpTool(UserTool):
    """Calls an allowed host over HTTP; returns the status and the body (capped)."""

    kind = "http"

    def __init__(
        self, *args: Any, request: HttpCall, allowed: frozenset[tuple[str, int | None]]
    ) -> None:
        """Send `request`, to `allowed` hosts only."""
        super().__init__(*args)
        self.request = request
        self.allowed = allowed
        self.annotations = llm.ToolAnnotations(
            read_only=request.method == "GET", destructive=False, open_world=True
        )

    @override
    async def async_run(
        self, hass: HomeAssistant, args: dict[str, Any], llm_context: llm.LLMContext
    ) -> llm.ToolResult:
        request = self.request
        try:
            url = yarl.URL(str(_render(request.url, args)).strip())
        except ValueError:
            return _error("bad_url", "The tool's URL is not valid")
        if url.scheme not in ("http", "https") or not host_allowed(url, self.allowed):
            LOGGER.warning(
                "Jarvis tool %s: refused to call %s, which is not in allowed_hosts (%s)",
                self.name,
                url.host,
                self.source,
            )
            return _error(
                "host_not_allowed",
                f"Not called: {url.host} is not an allowed host of {TOOLS_FILE}",
            )
        kwargs: dict[str, Any] = {
            "params": _render(request.params, args) or None,
            "headers": _render(request.headers, args) or None,
            "timeout": aiohttp.ClientTimeout(total=request.timeout),
            "allow_redirects": False,  # a redirect could leave the allowed hosts
        }
        if request.json is not None:
            kwargs["json"] = _render(request.json, args)
        session = async_get_clientsession(hass)
        try:
            async with session.request(request.method, url, **kwargs) as response:
                body, truncated = await _read_capped(response, request.max_bytes)
                status = response.status
                content_type = response.content_type
                charset = response.charset or "utf-8"
        except (aiohttp.ClientError, TimeoutError) as err:
            return _error("http_failed", f"The call failed: {type(err).__name__} {err}".strip())
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            text = body.decode("utf-8", errors="replace")
        parsed: JsonValueType = None
        if content_type == "application/json" and not truncated:
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        if parsed is None:
            text, cut = _capped(text)
            parsed, truncated = text, truncated or cut
        data: dict[str, JsonValueType] = {"status": status, "body": parsed}
        if truncated:
            data["truncated"] = True
        return llm.ToolResult(data=data, error=status >= 400)


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body; whether there was more."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(16384):
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False


# --- loading -------------------------------------------------------------------------------


def _parameters_schema(params: dict[str, Any]) -> probatio.Schema:
    schema: dict[Any, Any] = {}
    for name, spec in params.items():
        marker = probatio.Required if spec["required"] else probatio.Optional
        key = marker(str(name), description=spec.get("description"))
        match spec["type"]:
            case "string":
                schema[key] = str
            case "number":
                schema[key] = probatio.Coerce(float)
            case "boolean":
                schema[key] = bool
            case _:
                schema[key] = probatio.In(list(spec["values"]))
    return probatio.Schema(schema)


def _template(hass: HomeAssistant, text: str, node: Any, tool: str) -> Template:
    template = Template(text, hass)
    try:
        template.ensure_valid()
    except TemplateError as err:
        raise DefinitionError([Problem(line_of(node), f"template: {err}", tool)]) from err
    return template


def build_tool(
    hass: HomeAssistant,
    name: Any,
    node: Any,
    allowed: frozenset[tuple[str, int | None]],
    path: Path,
) -> UserTool:
    """One tool from its YAML node; raises DefinitionError."""
    tool = str(name)
    line = line_of(name, line_of(node))
    if not TOOL_NAME.match(tool):
        raise DefinitionError(
            [Problem(line, "a tool's name is a letter then letters, digits or _", tool)]
        )
    if not isinstance(node, Mapping):
        raise DefinitionError([Problem(line, "a tool is a mapping (description, ...)", tool)])
    try:
        conf = TOOL_SCHEMA(dict(node))
    except probatio.Invalid as err:
        raise DefinitionError(_invalid_problems(err, node, tool)) from err
    kinds = [kind for kind in KINDS if kind in conf]
    if len(kinds) != 1:
        raise DefinitionError([Problem(line, "give exactly one of script, template or http", tool)])
    problems = [
        Problem(line_at(node, ["parameters", p]), f"parameters.{p}: {message}", tool)
        for p, spec in conf["parameters"].items()
        for message in (
            "a parameter's name is letters, digits or _" if not PARAM_NAME.match(p) else "",
            "an enum needs its values" if spec["type"] == "enum" and not spec.get("values") else "",
        )
        if message
    ]
    if problems:
        raise DefinitionError(problems)
    args = (tool, conf["description"], _parameters_schema(conf["parameters"]), _source(path, line))
    if "script" in conf:
        return ScriptTool(*args, script=conf["script"], timeout=conf["timeout"])
    if "template" in conf:
        compiled = _template(hass, conf["template"], node.get("template"), tool)
        return TemplateTool(*args, template=compiled)
    http, http_node = conf["http"], node["http"]

    def template(value: Any, where: list[Any]) -> Any:
        if isinstance(value, str):
            return _template(hass, value, _node_at(http_node, where), tool)
        if isinstance(value, dict):
            return {k: template(v, [*where, k]) for k, v in value.items()}
        if isinstance(value, list):
            return [template(v, [*where, i]) for i, v in enumerate(value)]
        return value

    request = HttpCall(
        url=template(http["url"], ["url"]),
        method=http["method"],
        params=template(http.get("params") or {}, ["params"]),
        headers=template(http.get("headers") or {}, ["headers"]),
        json=template(http.get("json"), ["json"]),
        timeout=http["timeout"],
        max_bytes=http["max_bytes"],
    )
    if request.url.is_static:
        url = yarl.URL(http["url"].strip())
        url_line = line_at(http_node, ["url"])
        if url.scheme not in ("http", "https"):
            raise DefinitionError([Problem(url_line, "http.url: give an http(s) URL", tool)])
        if not host_allowed(url, allowed):
            raise DefinitionError(
                [
                    Problem(
                        url_line,
                        f"http.url: {url.host} is not in allowed_hosts",
                        tool,
                    )
                ]
            )
    return HttpTool(*args, request=request, allowed=allowed)


def _node_at(root: Any, path: list[Any]) -> Any:
    node = root
    for step in path:
        try:
            node = node[step]
        except KeyError, IndexError, TypeError:
            return root
    return node


def _source(path: Path, line: int) -> str:
    return f"{path.name}, line {line}"


@dataclass(slots=True)
class Loaded:
    """What a read of the file gave."""

    tools: dict[str, UserTool]
    allowed_hosts: list[str]
    problems: list[Problem]  # tools left out, and the file's own problems
    unreadable: Problem | None = None  # the file could not be parsed: nothing was read


def parse_file(hass: HomeAssistant, data: Any, path: Path) -> Loaded:
    """The tools of the loaded YAML `data` (each wrong one left out, with its problems)."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        return Loaded({}, [], [Problem(1, "the file is a mapping with allowed_hosts and tools")])
    problems: list[Problem] = []
    try:
        top = FILE_SCHEMA(dict(data))
    except probatio.Invalid as err:
        problems += _invalid_problems(err, data, None)
        top = {
            "allowed_hosts": [],
            "tools": data.get("tools") if isinstance(data.get("tools"), Mapping) else {},
        }
    allowed: set[tuple[str, int | None]] = set()
    for index, entry in enumerate(top["allowed_hosts"]):
        if (host := _parse_host(entry)) is None:
            problems.append(
                Problem(
                    line_at(data, ["allowed_hosts", index]),
                    f"allowed_hosts: {entry!r} is not 'host' or 'host:port'",
                )
            )
        else:
            allowed.add(host)
    tools: dict[str, UserTool] = {}
    for name, node in (top["tools"] or {}).items():
        try:
            tool = build_tool(hass, name, node, frozenset(allowed), path)
        except DefinitionError as err:
            problems += err.problems
            continue
        tools[tool.name] = tool
    return Loaded(tools, sorted(f"{h}:{p}" if p else h for h, p in allowed), problems)


def _read(path: Path, config_dir: Path) -> tuple[tuple[int, int] | None, Any]:
    """(Executor) the file's signature (mtime, size) and content, or None when absent."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None, None
    data = load_yaml(path, Secrets(config_dir))
    return (stat.st_mtime_ns, stat.st_size), data


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _yaml_error_line(err: BaseException) -> int:
    """The line a YAML error points at (1-based), from PyYAML's mark or the message."""
    seen: BaseException | None = err
    while seen is not None:
        mark = getattr(seen, "problem_mark", None) or getattr(seen, "context_mark", None)
        if mark is not None:
            return int(mark.line) + 1
        seen = seen.__cause__ or seen.__context__
    found = re.findall(r"line (\d+)", str(err))
    return int(found[-1]) if found else 1


@dataclass
class UserTools:
    """The user's tools, kept in step with the file."""

    hass: HomeAssistant
    path: Path
    tools: dict[str, UserTool] = field(default_factory=dict)
    allowed_hosts: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    loaded_at: datetime | None = None
    _signature: tuple[int, int] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def async_load(self) -> None:
        """Read the file now; offer its good tools, raise issues for the others."""
        async with self._lock:
            try:
                signature, data = await self.hass.async_add_executor_job(
                    _read, self.path, Path(self.hass.config.config_dir)
                )
            except HomeAssistantError as err:
                # Not YAML at all: keep the tools read before, say where the file breaks.
                self._signature = await self.hass.async_add_executor_job(_signature, self.path)
                problem = Problem(_yaml_error_line(err), str(err).splitlines()[0])
                LOGGER.error(
                    "%s, line %s cannot be read: %s; Jarvis keeps the %s tools it had",
                    self.path,
                    problem.line,
                    err,
                    len(self.tools),
                )
                self._raise_issues(Loaded(self.tools, self.allowed_hosts, self.problems, problem))
                return
            self._signature = signature
            loaded = parse_file(self.hass, data, self.path)
            for problem in loaded.problems:
                LOGGER.error(
                    "%s, line %s: %s%s",
                    self.path,
                    problem.line,
                    f"tool {problem.tool}: " if problem.tool else "",
                    problem.message,
                )
            if signature is not None or self.tools:
                LOGGER.info(
                    "Jarvis tools from %s: %s", self.path, ", ".join(loaded.tools) or "none"
                )
            self.tools = loaded.tools
            self.allowed_hosts = loaded.allowed_hosts
            self.problems = loaded.problems
            self.loaded_at = dt_util.utcnow()
            self._raise_issues(loaded)

    async def async_poll(self, _now: datetime | None = None) -> None:
        """Read the file again if it changed (or appeared, or went) since the last read."""
        signature = await self.hass.async_add_executor_job(_signature, self.path)
        if signature != self._signature:
            await self.async_load()

    def _raise_issues(self, loaded: Loaded) -> None:
        wanted: dict[str, tuple[str, dict[str, str]]] = {}
        file = str(self.path)
        if (problem := loaded.unreadable) is not None:
            wanted[f"{ISSUE_PREFIX}unreadable"] = (
                ISSUE_FILE_UNREADABLE,
                {"file": file, "line": str(problem.line), "error": problem.message},
            )
        by_tool: dict[str | None, list[Problem]] = {}
        for problem in loaded.problems:
            by_tool.setdefault(problem.tool, []).append(problem)
        for tool, problems in by_tool.items():
            placeholders = {
                "file": file,
                "line": str(problems[0].line),
                "error": "; ".join(
                    f"{p.message} (line {p.line})" if i else p.message
                    for i, p in enumerate(problems)
                ),
            }
            if tool is None:
                wanted[f"{ISSUE_PREFIX}file"] = (ISSUE_FILE_INVALID, placeholders)
            else:
                wanted[f"{ISSUE_PREFIX}tool_{tool}"] = (
                    ISSUE_TOOL_INVALID,
                    {**placeholders, "tool": tool},
                )
        registry = ir.async_get(self.hass)
        for (domain, issue_id), _issue in list(registry.issues.items()):
            if domain == DOMAIN and issue_id.startswith(ISSUE_PREFIX) and issue_id not in wanted:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        for issue_id, (key, placeholders) in wanted.items():
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                is_persistent=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=key,
                translation_placeholders=placeholders,
                data={"file": file, "line": int(placeholders["line"])},
            )

    def diagnostics(self) -> dict[str, Any]:
        """Names, kinds, parameters and problems (no URL, header or template: secrets)."""
        return {
            "file": TOOLS_FILE,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "allowed_hosts": self.allowed_hosts,
            "tools": {
                tool.name: {
                    "kind": tool.kind,
                    "source": tool.source,
                    "parameters": sorted(str(key) for key in tool.parameters.schema),
                }
                for tool in self.tools.values()
            },
            "problems": [
                {"line": p.line, "tool": p.tool, "message": p.message} for p in self.problems
            ],
        }


@callback
def async_user_tools(hass: HomeAssistant, taken: set[str]) -> list[llm.Tool]:
    """The user's tools for an LLM API instance, but those named like one of `taken`."""
    if (user_tools := hass.data.get(DATA_USER_TOOLS)) is None:
        return []
    offered: list[llm.Tool] = []
    for tool in user_tools.tools.values():
        if tool.name.casefold() in {name.casefold() for name in taken}:
            LOGGER.warning(
                "Jarvis tool %s (%s) is not offered: a built-in tool has that name",
                tool.name,
                tool.source,
            )
            continue
        offered.append(tool)
    return offered


async def async_setup_user_tools(hass: HomeAssistant) -> None:
    """Load the file, watch it, and register `jarvis.reload` (from `async_setup`)."""
    user_tools = hass.data[DATA_USER_TOOLS] = UserTools(hass, Path(hass.config.path(TOOLS_FILE)))
    await user_tools.async_load()
    async_track_time_interval(
        hass,
        user_tools.async_poll,
        POLL_INTERVAL,
        name="jarvis tools file",
        cancel_on_shutdown=True,
    )

    async def _async_reload(call: ServiceCall) -> None:
        await user_tools.async_load()

    async_register_admin_service(hass, DOMAIN, SERVICE_RELOAD, _async_reload)
