"""Satellite configuration: a TOML/YAML file and matching command-line flags.

Every setting lives in a section (``[mic]``, ``[wake]`` ...) of the file and has one flag named
``--<section>-<key>`` (underscores become dashes). Flags override the file; the file overrides
the defaults. ``python -m satellite --help`` lists them all.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
import difflib
import ipaddress
from pathlib import Path
import re
import socket
import tomllib
from typing import Any

import voluptuous as vol

from satellite.listening import ListenSettings

WAKE_ENGINES = ("micro", "openwakeword")
NOISE_MODES = ("webrtc", "speex", "off")


class ConfigError(ValueError):
    """The configuration file or a flag holds a value the satellite cannot use."""


MIN_SECRET_CHARS = 16


@dataclass
class ServerSettings:
    """Where the Wyoming satellite server listens, how it is announced, who may drive it."""

    host: str = "0.0.0.0"
    port: int = 10700
    zeroconf: bool = True
    zeroconf_name: str = ""  # default: the device's MAC address, like wyoming-satellite
    # Addresses/CIDRs that may drive and control it (plus this device); empty = trust on first
    # use: the first address that drives it is remembered in `state_file`.
    allowed_peers: list[str] = field(default_factory=list)
    state_file: str = ""  # "" = $STATE_DIRECTORY or $XDG_STATE_HOME/jarvis/satellite-state.json
    # Pairing (Jarvis integration): peers must prove they know this secret before driving.
    pairing_secret_file: str = ""  # preferred: a file readable only by the satellite's user
    pairing_secret: str = field(default="", repr=False)  # never logged
    # Prometheus /metrics and /health over HTTP: 0 = off (the default); on the device itself
    # only unless metrics_host says otherwise (e.g. "0.0.0.0" for a Prometheus on the LAN).
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"


@dataclass
class MicSettings:
    """Audio capture: a sound card, or a WAV file / raw PCM on stdin for tests and pipes."""

    device: str = ""  # sound card name or index; "" = system default
    rate: int = 48000
    channels: int = 1
    channel: int = 0  # which channel of a multi-channel device is used
    file: str = ""  # WAV file to read instead of a device; "-" = raw PCM on stdin
    realtime: bool = True  # pace a file source at real-time speed


@dataclass
class SpeakerSettings:
    """Audio playback: a sound card, or a WAV file / stdout / nothing."""

    device: str = ""
    rate: int = 48000
    file: str = ""  # WAV file to write instead of a device; "-" = raw PCM on stdout; "null"
    volume: float = 1.0
    max_queued_s: float = 120.0  # audio queued ahead of the speaker; a longer stream is refused
    duck_db: float = -20.0  # media (music) gain while the satellite listens or speaks


# The listening chain's own defaults are the satellite's defaults.
_CHAIN = ListenSettings()


@dataclass
class WakeSettings:
    """Wake word detection."""

    word: str = _CHAIN.wake_word
    engine: str = _CHAIN.wake_engine
    threshold: float | None = _CHAIN.wake_threshold  # None = the model's own cut-off
    refractory_s: float = _CHAIN.refractory_s
    local: bool = _CHAIN.local_wake  # False: stream all audio, HA detects the wake word


@dataclass
class ListenSection:
    """End of command detection and capture clean-up."""

    preroll_s: float = _CHAIN.preroll_s
    vad_silence_s: float = _CHAIN.vad_silence_s
    max_command_s: float = _CHAIN.max_command_s
    no_speech_timeout_s: float = _CHAIN.no_speech_timeout_s
    vad_threshold: float = _CHAIN.vad_threshold
    noise: str = _CHAIN.noise
    auto_gain: int = _CHAIN.auto_gain  # 0 = off, else target speech level in dB below full scale
    noise_suppression: int = _CHAIN.noise_suppression  # 0 (off) - 4
    highpass_hz: float = _CHAIN.highpass_hz  # 0 = off
    # Echo cancellation, the speaker's output as reference (runs only while it plays).
    echo_cancel: bool = _CHAIN.echo_cancel
    echo_delay_ms: int = _CHAIN.echo_delay_ms  # speaker -> mic delay hint; 0 = estimated
    echo_engine: str = _CHAIN.echo_engine  # "auto" | "webrtc" (AEC3) | "speex" (libspeexdsp1)
    echo_suppress: bool = _CHAIN.echo_suppress  # speex: residual echo suppressor after it


@dataclass
class SoundSettings:
    """Chimes; "" = the bundled sound, "none" = silent, else a WAV file path."""

    wake: str = ""
    done: str = ""
    timer: str = ""
    error: str = ""  # played when Home Assistant reports an error (e.g. speech server down)


@dataclass
class BehaviourSettings:
    """How the satellite behaves in a conversation."""

    muted: bool = False
    follow_up: bool = True  # reopen the mic when the reply asks a question
    timer_alarm_s: float = 30.0  # ring a finished timer at most this long
    barge_in: bool = True  # the wake word stops a reply; False: ignored while replying
    log_text: bool = False  # transcripts and replies at INFO (else DEBUG only)


@dataclass
class MqttSettings:
    """Publish state and events to an MQTT broker and take commands from it (off: no host)."""

    host: str = ""  # "" = off
    port: int = 1883
    username: str = ""
    password_file: str = ""  # a file readable only by the satellite's user
    password: str = field(default="", repr=False)  # read from password_file; never logged
    tls: bool = False
    topic_prefix: str = "jarvis"
    id: str = ""  # in topics and the client id; "" = the name, lower case, [a-z0-9_]
    discovery: bool = False  # Home Assistant MQTT discovery (off: the Jarvis integration's device)
    discovery_prefix: str = "homeassistant"
    announce_tts_uri: str = ""  # Wyoming TTS for `command/announce` (tcp://HOST:10200); "" = off
    announce_voice: str = ""  # "" = the TTS server's default voice
    announce_max_chars: int = 400  # longer announcement texts are refused


@dataclass
class StopWordSettings:
    """The stop word: "stop" said while something plays ends it, without a wake word.

    Short isolated utterances heard while playing are checked by a Wyoming speech-to-text
    server (`satellite.stop_word`); off until `stt_uri` is set and `enabled` (or the
    Jarvis integration's switch) turns it on.
    """

    enabled: bool = False
    stt_uri: str = ""  # Wyoming STT server (tcp://HOST:10300); "" = off
    language: str = "en"
    words: list[str] = field(default_factory=list)  # [] = the language's defaults


def _default_name() -> str:
    return socket.gethostname() or "Jarvis satellite"


@dataclass
class SatelliteConfig:
    """The whole satellite configuration."""

    name: str = field(default_factory=_default_name)
    area: str = ""
    log_level: str = "INFO"
    server: ServerSettings = field(default_factory=ServerSettings)
    mic: MicSettings = field(default_factory=MicSettings)
    speaker: SpeakerSettings = field(default_factory=SpeakerSettings)
    wake: WakeSettings = field(default_factory=WakeSettings)
    listen: ListenSection = field(default_factory=ListenSection)
    sounds: SoundSettings = field(default_factory=SoundSettings)
    behaviour: BehaviourSettings = field(default_factory=BehaviourSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    stop_word: StopWordSettings = field(default_factory=StopWordSettings)


_SECTIONS: dict[str, type[Any]] = {
    "server": ServerSettings,
    "mic": MicSettings,
    "speaker": SpeakerSettings,
    "wake": WakeSettings,
    "listen": ListenSection,
    "sounds": SoundSettings,
    "behaviour": BehaviourSettings,
    "mqtt": MqttSettings,
    "stop_word": StopWordSettings,
}
_TOP_LEVEL = ("name", "area", "log_level")


def _number(
    kind: type[Any],
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    optional: bool = False,
) -> Callable[[Any], Any]:
    """A number validator with a message that says what is allowed."""
    name = "an integer" if kind is int else "a number"

    def check(value: Any) -> Any:
        if value is None and optional:
            return None
        if isinstance(value, bool):
            raise vol.Invalid(f"expected {name}, got {value!r}")
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise vol.Invalid(f"expected {name}, got {value!r}") from None
        if lo is not None and (number <= lo if lo_open else number < lo):
            raise vol.Invalid(f"must be {'above' if lo_open else 'at least'} {lo}, got {value!r}")
        if hi is not None and number > hi:
            raise vol.Invalid(f"must be at most {hi}, got {value!r}")
        return number

    return check


def _positive(kind: type[Any]) -> Callable[[Any], Any]:
    return _number(kind, 0, lo_open=True)


def _non_negative(kind: type[Any]) -> Callable[[Any], Any]:
    return _number(kind, 0)


def _peers(value: Any) -> list[str]:
    """Addresses/networks as a list or one comma/space separated string (the flag)."""
    if isinstance(value, str):
        items = [item for item in re.split(r"[,\s]+", value) if item]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value if item.strip()]
    else:
        raise vol.Invalid(f"expected a list of addresses or networks, got {value!r}")
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise vol.Invalid(
                f"{item!r} is not an IP address or network (e.g. 192.168.1.10 or 192.168.1.0/24)"
            ) from None
    return items


def _stop_words(value: Any) -> list[str]:
    """Stop words as a list or one comma separated string (the flag); each 1 or 2 words."""
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value if item.strip()]
    else:
        raise vol.Invalid(f"expected a list of words, got {value!r}")
    for item in items:
        if len(item.split()) > 2 or len(item) > 40:
            raise vol.Invalid(f"{item!r}: a stop word is one or two short words")
    return items


def _secret(value: Any) -> str:
    """A pairing secret: empty, or long enough; the message never repeats it."""
    if not isinstance(value, str):
        raise vol.Invalid("expected a string")
    secret = value.strip()
    if secret and len(secret) < MIN_SECRET_CHARS:
        raise vol.Invalid(f"must be at least {MIN_SECRET_CHARS} characters (or empty)")
    return secret


_VALIDATORS: dict[str, Any] = {
    "name": vol.All(str, vol.Length(min=1, max=100)),
    "area": str,
    "log_level": vol.All(str, vol.Upper, vol.In(["DEBUG", "INFO", "WARNING", "ERROR"])),
    "server.host": str,
    "server.port": _number(int, 0, 65535),
    "server.zeroconf": bool,
    "server.zeroconf_name": str,
    "server.allowed_peers": _peers,
    "server.state_file": str,
    "server.pairing_secret_file": str,
    "server.pairing_secret": _secret,
    "server.metrics_port": _number(int, 0, 65535),
    "server.metrics_host": vol.All(str, vol.Length(min=1)),
    "mic.device": vol.Coerce(str),
    "mic.rate": _number(int, 8000, 192000),
    "mic.channels": _number(int, 1, 32),
    "mic.channel": _non_negative(int),
    "mic.file": str,
    "mic.realtime": bool,
    "speaker.device": vol.Coerce(str),
    "speaker.rate": _number(int, 8000, 192000),
    "speaker.file": str,
    "speaker.volume": _number(float, 0.0, 1.0),
    "speaker.max_queued_s": _number(float, 1.0, 3600.0),
    "speaker.duck_db": _number(float, -60.0, 0.0),
    "wake.word": vol.All(str, vol.Length(min=1)),
    "wake.engine": vol.In(WAKE_ENGINES),
    "wake.threshold": _number(float, 0.0, 1.0, optional=True),
    "wake.refractory_s": _non_negative(float),
    "wake.local": bool,
    "listen.preroll_s": _number(float, 0.0, 5.0),
    "listen.vad_silence_s": _positive(float),
    "listen.max_command_s": _positive(float),
    "listen.no_speech_timeout_s": _positive(float),
    "listen.vad_threshold": _number(float, 0.0, 1.0),
    "listen.noise": vol.In(NOISE_MODES),
    "listen.auto_gain": _number(int, 0, 31),
    "listen.noise_suppression": _number(int, 0, 4),
    "listen.highpass_hz": _number(float, 0.0, 1000.0),
    "listen.echo_cancel": bool,
    "listen.echo_delay_ms": _number(int, 0, 500),
    "listen.echo_engine": vol.In(("auto", "webrtc", "speex")),
    "listen.echo_suppress": bool,
    "sounds.wake": str,
    "sounds.done": str,
    "sounds.timer": str,
    "sounds.error": str,
    "behaviour.muted": bool,
    "behaviour.follow_up": bool,
    "behaviour.timer_alarm_s": _non_negative(float),
    "behaviour.barge_in": bool,
    "behaviour.log_text": bool,
    "mqtt.host": str,
    "mqtt.port": _number(int, 1, 65535),
    "mqtt.username": str,
    "mqtt.password_file": str,
    "mqtt.password": str,
    "mqtt.tls": bool,
    "mqtt.topic_prefix": vol.All(str, vol.Match(r"^[^#+]+$"), vol.Length(min=1, max=100)),
    "mqtt.id": vol.All(str, vol.Match(r"^[A-Za-z0-9_-]*$"), vol.Length(max=64)),
    "mqtt.discovery": bool,
    "mqtt.discovery_prefix": vol.All(str, vol.Match(r"^[^#+]+$"), vol.Length(min=1, max=100)),
    "mqtt.announce_tts_uri": vol.All(
        str,
        vol.Match(r"^(tcp://.+:[0-9]+|unix://.+)?$", msg="expected tcp://HOST:PORT or unix://PATH"),
    ),
    "mqtt.announce_voice": vol.All(str, vol.Length(max=200)),
    "mqtt.announce_max_chars": _number(int, 1, 5000),
    "stop_word.enabled": bool,
    "stop_word.stt_uri": vol.All(
        str,
        vol.Match(r"^(tcp://.+:[0-9]+|unix://.+)?$", msg="expected tcp://HOST:PORT or unix://PATH"),
    ),
    "stop_word.language": vol.All(str, vol.Match(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]+)?$")),
    "stop_word.words": _stop_words,
}


def _schema() -> vol.Schema:
    top: dict[Any, Any] = {vol.Optional(key): _VALIDATORS[key] for key in _TOP_LEVEL}
    for section, cls in _SECTIONS.items():
        inner = {vol.Optional(f.name): _VALIDATORS[f"{section}.{f.name}"] for f in fields(cls)}
        top[vol.Optional(section)] = vol.Schema(inner, extra=vol.PREVENT_EXTRA)
    return vol.Schema(top, extra=vol.PREVENT_EXTRA)


def _explain(err: vol.Invalid) -> str:
    where = ".".join(str(p) for p in err.path) or "(top level)"
    if isinstance(err, vol.MultipleInvalid):
        return "; ".join(_explain(e) for e in err.errors)
    if err.error_message.startswith(("extra keys not allowed", "not a valid option")):
        return f"{where}: unknown setting{_did_you_mean(err.path)}"
    return f"{where}: {err.error_message}"


def _did_you_mean(path: list[Any]) -> str:
    """A suggestion for a misspelt setting name."""
    if len(path) == 1:
        known = [*_TOP_LEVEL, *_SECTIONS]
    elif len(path) == 2 and path[0] in _SECTIONS:
        known = [f.name for f in fields(_SECTIONS[path[0]])]
    else:
        return ""
    close = difflib.get_close_matches(str(path[-1]), known, n=1)
    return f", did you mean '{close[0]}'?" if close else ""


def validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a raw settings mapping; raise ConfigError with every problem found."""
    try:
        result: dict[str, Any] = _schema()(dict(raw))
    except vol.Invalid as err:
        raise ConfigError(f"invalid configuration: {_explain(err)}") from err
    return result


def _build(data: Mapping[str, Any]) -> SatelliteConfig:
    config = SatelliteConfig()
    for key in _TOP_LEVEL:
        if key in data:
            setattr(config, key, data[key])
    for section in _SECTIONS:
        target = getattr(config, section)
        for key, value in data.get(section, {}).items():
            setattr(target, key, value)
    return config


def read_file(path: Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) configuration file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read configuration file {path}: {err.strerror}") from err
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError as err:
            raise ConfigError("YAML configuration needs PyYAML (pip install pyyaml)") from err
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
    else:
        try:
            loaded = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path} is not valid TOML: {err}") from err
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a table of settings")
    return loaded


# --- command-line flags -------------------------------------------------------------------


def _flag(section: str | None, key: str) -> str:
    name = key if section is None else f"{section}_{key}"
    return "--" + name.replace("_", "-")


def _dest(section: str | None, key: str) -> str:
    return f"cfg__{key}" if section is None else f"cfg__{section}__{key}"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _parse_optional_float(text: str) -> float | None:
    if text.strip().lower() in ("", "none", "default"):
        return None
    try:
        return float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from err


def _arg_type(default: Any, annotation: str) -> Callable[[str], Any]:
    if "None" in annotation and "float" in annotation:
        return _parse_optional_float
    if isinstance(default, bool):
        return _parse_bool
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--config`` and one flag per setting to a parser."""
    parser.add_argument(
        "-c", "--config", type=Path, help="TOML or YAML configuration file (flags override it)"
    )
    defaults = SatelliteConfig()
    general = parser.add_argument_group("general")
    for key in _TOP_LEVEL:
        general.add_argument(
            _flag(None, key),
            dest=_dest(None, key),
            default=None,
            metavar=key.upper(),
            help=f"(default: {getattr(defaults, key)!r})",
        )
    for section, cls in _SECTIONS.items():
        group = parser.add_argument_group(f"[{section}]", (cls.__doc__ or "").strip())
        instance = getattr(defaults, section)
        for f in fields(cls):
            default = getattr(instance, f.name)
            group.add_argument(
                _flag(section, f.name),
                dest=_dest(section, f.name),
                type=_arg_type(default, str(f.type)),
                default=None,
                metavar="BOOL" if isinstance(default, bool) else f.name.upper(),
                help=f"(default: {default!r})",
            )


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given on the command line, as a nested mapping."""
    result: dict[str, Any] = {}
    for dest, value in vars(args).items():
        if not dest.startswith("cfg__") or value is None:
            continue
        parts = dest.split("__")[1:]
        if len(parts) == 1:
            result[parts[0]] = value
        else:
            result.setdefault(parts[0], {})[parts[1]] = value
    return result


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge two raw settings mappings, section by section."""
    result: dict[str, Any] = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key].update(value)
        else:
            result[key] = value
    return result


def load_config(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> SatelliteConfig:
    """Read the file (if any), apply overrides, validate and build the configuration."""
    raw: dict[str, Any] = read_file(path) if path is not None else {}
    raw = merge(raw, overrides or {})
    config = _build(validate(raw))
    _read_secret(config.server)
    if config.mqtt.password_file:
        config.mqtt.password = _read_password(config.mqtt.password_file)
    if config.mic.channel >= config.mic.channels:
        raise ConfigError(
            f"invalid configuration: mic.channel {config.mic.channel} does not exist on a "
            f"{config.mic.channels}-channel input (channels are numbered from 0)"
        )
    return config


def read_secret_file(path: str) -> str:
    """The pairing secret in a file (surrounding whitespace stripped); ConfigError if unusable."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the pairing secret file {path}: {why}") from err
    try:
        secret = _secret(text)
    except vol.Invalid as err:
        raise ConfigError(f"invalid configuration: server.pairing_secret_file: {err}") from None
    if not secret:
        raise ConfigError(f"invalid configuration: server.pairing_secret_file: {path} is empty")
    return secret


def _read_password(path: str) -> str:
    """The MQTT password in a file (surrounding whitespace stripped)."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read the MQTT password file {path}: {why}") from err
    if not text:
        raise ConfigError(f"invalid configuration: mqtt.password_file: {path} is empty")
    return text


def _read_secret(server: ServerSettings) -> None:
    """Resolve `pairing_secret_file` into `pairing_secret` (one of the two, not both)."""
    if not server.pairing_secret_file:
        return
    if server.pairing_secret:
        raise ConfigError(
            "invalid configuration: set server.pairing_secret_file or server.pairing_secret, "
            "not both"
        )
    server.pairing_secret = read_secret_file(server.pairing_secret_file)


def config_from_args(args: argparse.Namespace) -> SatelliteConfig:
    """Build the configuration from parsed arguments (``--config`` file + flags)."""
    return load_config(getattr(args, "config", None), overrides_from_args(args))
