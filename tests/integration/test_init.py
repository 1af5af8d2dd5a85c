"""Set up, retry, reload and unload a Jarvis entry in a real Home Assistant, over real HTTP."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_URL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.jarvis.const import DOMAIN
from custom_components.jarvis.issues import unreachable_issue_id

from .fake_ollama import OLLAMA_VERSION, FakeOllama


def jarvis_issues(hass: HomeAssistant) -> list[str]:
    return sorted(i for (d, i) in ir.async_get(hass).issues if d == DOMAIN)


async def test_setup_and_unload(
    hass: HomeAssistant, fake_ollama: FakeOllama, mock_config_entry: MockConfigEntry
) -> None:
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    assert mock_config_entry.state is ConfigEntryState.LOADED
    data = mock_config_entry.runtime_data
    status = data.coordinator.data
    assert status.models == ("llama3.2:latest", "qwen3:4b")
    assert status.version == OLLAMA_VERSION
    assert {r.path for r in fake_ollama.requests} >= {"/api/tags", "/api/version"}
    server = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, mock_config_entry.entry_id), mock_config_entry.entry_id
    )
    assert server is not None and server.sw_version == OLLAMA_VERSION
    assert jarvis_issues(hass) == []

    http = data.client._client
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert http.is_closed
    # The entities stay registered; their states say unavailable, as for any unloaded entry.
    entity_ids = [
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), mock_config_entry.entry_id)
    ]
    assert len(entity_ids) == 5  # agent, 3 sensors, server reachable
    assert all(
        (state := hass.states.get(e)) is None or state.state == "unavailable" for e in entity_ids
    )


async def test_server_down_at_start_loads_for_local_commands_then_recovers(
    hass: HomeAssistant, fake_ollama: FakeOllama, mock_config_entry: MockConfigEntry
) -> None:
    await fake_ollama.stop()
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    # Local first: the agent exists (HA's own intents need no Ollama), the outage is reported.
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert jarvis_issues(hass) == [unreachable_issue_id(mock_config_entry)]
    assert mock_config_entry.runtime_data.coordinator.reachable is False

    await fake_ollama.start()
    await mock_config_entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert mock_config_entry.runtime_data.coordinator.reachable is True
    assert jarvis_issues(hass) == []


async def test_removing_an_entry_whose_server_is_down_forgets_its_issue(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    entry = MockConfigEntry(domain=DOMAIN, data={CONF_URL: "http://127.0.0.1:9"})
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert jarvis_issues(hass) == [unreachable_issue_id(entry)]

    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert jarvis_issues(hass) == []


async def test_reload_leaves_nothing_behind(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry
) -> None:
    entry = setup_jarvis
    entity_reg = er.async_get(hass)
    before_entities = sorted(
        e.entity_id for e in er.async_entries_for_config_entry(entity_reg, entry.entry_id)
    )
    before_devices = sorted(
        d.id for d in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    )
    before_states = len(hass.states.async_all())
    old_client = entry.runtime_data.client

    for _ in range(2):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert old_client._client.is_closed
    assert entry.runtime_data.client is not old_client
    assert (
        sorted(e.entity_id for e in er.async_entries_for_config_entry(entity_reg, entry.entry_id))
        == before_entities
    )
    assert (
        sorted(d.id for d in dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id))
        == before_devices
    )
    assert len(hass.states.async_all()) == before_states
    assert jarvis_issues(hass) == []


async def test_polling_backs_off_while_down_and_recovers(
    hass: HomeAssistant, fake_ollama: FakeOllama, setup_jarvis: MockConfigEntry
) -> None:
    coordinator = setup_jarvis.runtime_data.coordinator
    reachable = f"binary_sensor.ollama_127_0_0_1_{fake_ollama.port}_reachable"
    assert hass.states.get(reachable).state == "on"
    await fake_ollama.stop()

    # The scheduled poll notices the server is gone.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=31))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert not coordinator.reachable
    assert hass.states.get(reachable).state == "off"
    assert jarvis_issues(hass) == [unreachable_issue_id(setup_jarvis)]

    retries = [coordinator.next_retry()]
    for _ in range(6):
        await coordinator.async_refresh()
        retries.append(coordinator.next_retry())
    assert retries == [5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0]

    await fake_ollama.start()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=121))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator.reachable
    assert coordinator.failures == 0
    assert hass.states.get(reachable).state == "on"
    assert jarvis_issues(hass) == []


async def test_server_without_version_endpoint(hass: HomeAssistant, socket_enabled: None) -> None:
    """An older Ollama (or a proxy) without /api/version still works; the version is unknown."""

    async def tags(request: web.Request) -> web.Response:
        return web.json_response({"models": [{"model": "llama3.2:latest", "name": "llama3.2"}]})

    app = web.Application()
    app.router.add_get("/api/tags", tags)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        entry = MockConfigEntry(domain=DOMAIN, data={CONF_URL: f"http://127.0.0.1:{port}"})
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
        assert entry.runtime_data.coordinator.data.version is None
        assert entry.runtime_data.coordinator.data.models == ("llama3.2:latest",)
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await runner.cleanup()


async def test_removing_an_agent_removes_its_device_and_entities(
    hass: HomeAssistant, setup_jarvis: MockConfigEntry
) -> None:
    entry = setup_jarvis
    (sub_id,) = entry.subentries
    devices = dr.async_get(hass)
    assert devices.async_get_device_by_identifier((DOMAIN, sub_id), entry.entry_id) is not None

    hass.config_entries.async_remove_subentry(entry, sub_id)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.LOADED
    assert devices.async_get_device_by_identifier((DOMAIN, sub_id), entry.entry_id) is None
    left = er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    assert [e.unique_id for e in left] == [f"{entry.entry_id}_server_reachable"]


async def test_server_down_at_start_is_picked_up_by_the_first_retry(
    hass: HomeAssistant, fake_ollama: FakeOllama, mock_config_entry: MockConfigEntry
) -> None:
    await fake_ollama.stop()
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = mock_config_entry.runtime_data.coordinator
    assert not coordinator.reachable

    await fake_ollama.start()
    # No need to wait for the healthy 30 s interval: the first retry comes after 5 s.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=6))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert coordinator.reachable
    assert jarvis_issues(hass) == []
