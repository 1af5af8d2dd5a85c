"""Talking to the Ollama server: the client, the model list, downloads (`ollama pull`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowHandler, FlowResult
from homeassistant.util.ssl import get_default_context
import httpx
import ollama

from .const import DEFAULT_TIMEOUT, LOGGER


def create_client(url: str) -> ollama.AsyncClient:
    """An Ollama client for `url`, with HA's SSL context (loaded once, off the event loop)."""
    return ollama.AsyncClient(host=url, verify=get_default_context())


def normalize_model(name: str) -> str:
    """Ollama's canonical model name: 'llama3.2' means 'llama3.2:latest'."""
    return name if ":" in name else f"{name}:latest"


class ServerError(Exception):
    """The server at a URL could not be used; `reason` is the form's error key."""

    def __init__(self, reason: str) -> None:
        """Fail with the error key `reason`."""
        super().__init__(reason)
        self.reason = reason


async def async_fetch_models(client: ollama.AsyncClient) -> list[str]:
    """The models installed on the server (canonical names); raises ServerError."""
    try:
        async with asyncio.timeout(DEFAULT_TIMEOUT):
            listing = await client.list()
    except TimeoutError as err:
        raise ServerError("timeout_connect") from err
    except (ConnectionError, httpx.HTTPError) as err:
        raise ServerError("cannot_connect") from err
    except ollama.ResponseError as err:
        # A gateway error means the server behind a proxy is down; other statuses mean
        # something else than Ollama answers at this address.
        raise ServerError("cannot_connect" if err.status_code >= 500 else "not_ollama") from err
    except ValueError as err:  # not JSON, or JSON that is not a model list
        raise ServerError("not_ollama") from err
    return sorted(normalize_model(m.model) for m in listing.models if m.model)


async def async_probe(url: str) -> list[str]:
    """Contact the Ollama server at `url` with a throw-away client; its models."""
    client = create_client(url)
    try:
        return await async_fetch_models(client)
    finally:
        await client.close()  # type: ignore[no-untyped-call]


class ModelPull:
    """A model being pulled onto the server (`ollama pull`) while a flow shows its progress."""

    def __init__(
        self,
        hass: HomeAssistant,
        client: ollama.AsyncClient,
        model: str,
        on_progress: Callable[[float], None],
        *,
        close_client: bool,
    ) -> None:
        """Start pulling `model` through `client` (closed at the end if `close_client`)."""
        self.model = model
        self.error: str | None = None  # Ollama's message when the pull failed
        self.task = hass.async_create_background_task(
            self._async_pull(client, on_progress, close_client), f"Pulling {model} onto Ollama"
        )

    def async_show[ResultT: FlowResult[Any, Any]](
        self, flow: FlowHandler[Any, ResultT, Any], back_step: str
    ) -> ResultT:
        """A flow's `download` step: progress while pulling, then `downloaded` or `back_step`."""
        if not self.task.done():
            return flow.async_show_progress(
                step_id="download",
                progress_action="download",
                progress_task=self.task,
                description_placeholders={"model": self.model},
            )
        return flow.async_show_progress_done(next_step_id=back_step if self.error else "downloaded")

    async def _async_pull(
        self, client: ollama.AsyncClient, on_progress: Callable[[float], None], close: bool
    ) -> None:
        try:
            async for part in await client.pull(self.model, stream=True):
                if part.total and part.completed is not None:
                    on_progress(min(part.completed / part.total, 1.0))
        except ollama.ResponseError as err:
            self.error = err.error
        except (ConnectionError, httpx.HTTPError) as err:
            self.error = str(err) or type(err).__name__
        finally:
            if close:
                await client.close()  # type: ignore[no-untyped-call]
        if self.error:
            LOGGER.warning("Could not pull %s: %s", self.model, self.error)
