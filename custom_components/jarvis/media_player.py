"""The satellite's speaker as a media player: music and sounds under its voice replies.

`play_media` takes URLs, HA media sources and TTS; HA's ffmpeg converts the media to the
satellite's speaker format and it is streamed with `jarvis-media-start` / `-chunk` / `-stop`,
paced at real time (at most `MAX_LEAD_S` ahead). The satellite mixes it under replies and
chimes and ducks it while it listens or speaks. Pause, resume and stop go as
`jarvis-media-control`; the volume is the satellite's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from homeassistant.components import media_source
from homeassistant.components.media_player import MediaPlayerEntity
from homeassistant.components.media_player.browse_media import (
    BrowseMedia,
    async_process_play_media_url,
)
from homeassistant.components.media_player.const import (
    ATTR_MEDIA_ANNOUNCE,
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from wyoming.event import Event

from .const import DOMAIN
from .media_convert import Pacer, async_convert, async_send_voice, resolve_source, speaker_format
from .satellite_runtime import SatelliteConfigEntry, SatelliteEntity

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0
MEDIA_START, MEDIA_CHUNK = "jarvis-media-start", "jarvis-media-chunk"
MEDIA_STOP, MEDIA_CONTROL = "jarvis-media-stop", "jarvis-media-control"
_STATES = {
    "playing": MediaPlayerState.PLAYING,
    "paused": MediaPlayerState.PAUSED,
    "idle": MediaPlayerState.IDLE,
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """The satellite's speaker."""
    async_add_entities([SatelliteMediaPlayer(entry)])


class SatelliteMediaPlayer(SatelliteEntity, MediaPlayerEntity):
    """Plays media on the satellite's speaker."""

    _attr_name = None
    _attr_media_content_type = MediaType.MUSIC
    _attr_supported_features = (
        MediaPlayerEntityFeature.PLAY_MEDIA
        | MediaPlayerEntityFeature.BROWSE_MEDIA
        | MediaPlayerEntityFeature.MEDIA_ANNOUNCE
        | MediaPlayerEntityFeature.PAUSE
        | MediaPlayerEntityFeature.PLAY
        | MediaPlayerEntityFeature.STOP
        | MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.VOLUME_STEP
    )

    def __init__(self, entry: SatelliteConfigEntry) -> None:
        """The speaker of `entry`'s satellite."""
        super().__init__(entry, "media_player")
        self._task: asyncio.Task[None] | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._local_state = MediaPlayerState.IDLE

    @property
    def state(self) -> MediaPlayerState:
        """What the satellite says its media does (what HA sent, for an older satellite)."""
        media = self.link.state.get("media")
        if isinstance(media, dict) and media.get("state") in _STATES:
            return _STATES[media["state"]]
        return self._local_state

    @property
    def volume_level(self) -> float | None:
        """The satellite's volume (0-1)."""
        volume = self.link.state.get("volume")
        return float(volume) if isinstance(volume, int | float) else None

    async def async_set_volume_level(self, volume: float) -> None:
        """Set the satellite's volume."""
        await self.link.async_control(volume=max(0.0, min(1.0, volume)))

    async def async_browse_media(
        self, media_content_type: MediaType | str | None = None, media_content_id: str | None = None
    ) -> BrowseMedia:
        """HA's media sources, audio only."""
        return await media_source.async_browse_media(
            self.hass,
            media_content_id,
            content_filter=lambda item: item.media_content_type.startswith("audio/"),
        )

    async def async_play_media(
        self, media_type: MediaType | str, media_id: str, **kwargs: Any
    ) -> None:
        """Convert the media with HA's ffmpeg and stream it to the satellite."""
        if not self.link.connected:
            raise HomeAssistantError(
                translation_domain=DOMAIN, translation_key="satellite_disconnected"
            )
        if media_source.is_media_source_id(media_id):
            media_id = (await media_source.async_resolve_media(self.hass, media_id, None)).url
        # file:// URLs are read locally (allowlist_external_dirs); the rest as HA serves them.
        url = (
            media_id
            if media_id.startswith("file:")
            else (async_process_play_media_url(self.hass, media_id))
        )
        source = resolve_source(self.hass, url)  # refuses what may not be read, at once
        if kwargs.get(ATTR_MEDIA_ANNOUNCE):
            # Spoken over the music (which the satellite ducks), as a reply is.
            await async_send_voice(self.hass, self.link, [source], speaker_format(self.link))
            return
        await self._async_cancel()
        self._resumed.set()
        self._attr_media_content_id = media_id
        self._local_state = MediaPlayerState.PLAYING
        self._task = self.entry.async_create_background_task(
            self.hass, self._async_stream(source), f"{self.entity_id} media"
        )
        self.async_write_ha_state()

    async def _async_stream(self, source: Any) -> None:
        fmt = speaker_format(self.link)
        header = {"rate": fmt.rate, "width": fmt.width, "channels": fmt.channels}
        pacer = Pacer(fmt)
        try:
            await self.link.async_send(Event(type=MEDIA_START, data=header))
            async for pcm in async_convert(self.hass, source, fmt):
                if not self._resumed.is_set():
                    await self._resumed.wait()
                    pacer.restart()
                if not await self.link.async_send(Event(MEDIA_CHUNK, header, pcm)):
                    break  # disconnected: the satellite dropped the stream
                await pacer.async_wait(len(pcm))
            await self.link.async_send(Event(type=MEDIA_STOP))
        except HomeAssistantError as err:
            _LOGGER.warning("%s: %s", self.entity_id, err)
            await self.link.async_send(Event(type=MEDIA_STOP))
        finally:
            self._local_state = MediaPlayerState.IDLE
            if self.hass is not None and self.entity_id:
                self.async_write_ha_state()

    async def _async_cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def async_media_pause(self) -> None:
        """Pause: the satellite holds what it has, HA stops sending."""
        self._resumed.clear()
        self._local_state = MediaPlayerState.PAUSED
        await self.link.async_send(Event(type=MEDIA_CONTROL, data={"action": "pause"}))
        self.async_write_ha_state()

    async def async_media_play(self) -> None:
        """Resume."""
        await self.link.async_send(Event(type=MEDIA_CONTROL, data={"action": "resume"}))
        self._resumed.set()
        self._local_state = (
            MediaPlayerState.PLAYING if self._task is not None else MediaPlayerState.IDLE
        )
        self.async_write_ha_state()

    async def async_media_stop(self) -> None:
        """Stop now: what is buffered on the satellite is dropped."""
        await self._async_cancel()
        self._resumed.set()
        self._local_state = MediaPlayerState.IDLE
        await self.link.async_send(Event(type=MEDIA_CONTROL, data={"action": "stop"}))
        self.async_write_ha_state()

    async def async_will_remove_from_hass(self) -> None:
        """Stop streaming."""
        await self._async_cancel()
        await super().async_will_remove_from_hass()
