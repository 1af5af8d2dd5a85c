"""Satellite configuration: file formats, flags over file, clear errors for bad values."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from satellite.config import (
    ConfigError,
    SatelliteConfig,
    add_config_arguments,
    config_from_args,
    load_config,
)
from satellite.listening import ListenSettings
from satellite.server.build import listen_settings
from satellite.server.info import build_info


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_are_usable() -> None:
    config = load_config()
    assert config.server.port == 10700
    assert config.server.zeroconf is True
    assert config.mic.rate == 48000
    assert config.wake.word == "hey_jarvis"
    assert config.wake.local is True
    assert config.speaker.volume == 1.0
    assert config.name  # the host name
    # The listening chain's defaults, unchanged.
    assert listen_settings(config) == ListenSettings()


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "satellite.toml"
    path.write_text(
        'name = "Kitchen"\narea = "Kitchen"\n'
        "[server]\nport = 10800\n"
        '[mic]\ndevice = "ReSpeaker"\nrate = 44100\nchannels = 4\nchannel = 2\n'
        "[wake]\nthreshold = 0.7\nrefractory_s = 3\n"
        "[listen]\nvad_silence_s = 1.0\nnoise = 'speex'\nauto_gain = 12\nnoise_suppression = 2\n"
        "[behaviour]\nfollow_up = false\n"
    )
    config = load_config(path)
    assert (config.name, config.area, config.server.port) == ("Kitchen", "Kitchen", 10800)
    assert (config.mic.device, config.mic.rate, config.mic.channels) == ("ReSpeaker", 44100, 4)
    assert config.mic.channel == 2
    assert config.wake.threshold == 0.7
    assert config.wake.refractory_s == 3.0
    assert config.listen.vad_silence_s == 1.0
    settings = listen_settings(config)
    assert (settings.noise, settings.auto_gain, settings.noise_suppression) == ("speex", 12, 2)
    assert settings.wake_threshold == 0.7
    assert config.behaviour.follow_up is False
    info = build_info(config)
    assert info.satellite is not None
    assert (info.satellite.name, info.satellite.area) == ("Kitchen", "Kitchen")


def test_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "satellite.yaml"
    path.write_text("name: Bedroom\nmic:\n  device: 2\nwake:\n  local: false\n")
    config = load_config(path)
    assert config.name == "Bedroom"
    assert config.mic.device == "2"  # an index, resolved by the audio layer
    assert config.wake.local is False
    assert build_info(config).wake == []


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "satellite.toml"
    path.write_text('name = "Kitchen"\n[server]\nport = 10800\n[speaker]\nvolume = 0.5\n')
    config = config_from_args(
        parse("--config", str(path), "--server-port", "10900", "--wake-threshold", "none")
    )
    assert config.name == "Kitchen"
    assert config.server.port == 10900
    assert config.speaker.volume == 0.5
    assert config.wake.threshold is None
    config = config_from_args(parse("--speaker-volume", "0.2", "--behaviour-muted", "yes"))
    assert config.speaker.volume == 0.2
    assert config.behaviour.muted is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[wake]\nthreshold = 1.5\n", "wake.threshold"),
        ("[wake]\nengine = 'porcupine'\n", "wake.engine"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[mic]\nrate = 'fast'\n", "mic.rate"),
        ("[speaker]\nvolume = 3\n", "speaker.volume"),
        ("[listen]\nvad_silence_s = 0\n", "listen.vad_silence_s"),
        ("[listen]\nnoise_suppression = 5\n", "listen.noise_suppression"),
        ("[mic]\ndevise = 'usb'\n", "mic.devise: unknown setting, did you mean 'device'"),
        ("colour = 'red'\n", "colour: unknown setting"),
        ("[mic]\nchannels = 2\nchannel = 2\n", "mic.channel 2 does not exist"),
        ("[server\nport = 1\n", "not valid TOML"),
        ("[server]\nallowed_peers = ['192.168.1.300']\n", "server.allowed_peers: '192.168.1.300'"),
        ("[server]\nallowed_peers = 5\n", "server.allowed_peers: expected a list"),
        ("[server]\nalowed_peers = []\n", "did you mean 'allowed_peers'"),
        ("[server]\npairing_secret = 'short'\n", "server.pairing_secret: must be at least 16"),
        ("[server]\npairing_secret_file = '/nonexistent/secret'\n", "cannot read the pairing"),
        ("[speaker]\nmax_queued_s = 0\n", "speaker.max_queued_s"),
        ("[behaviour]\nlog_text = 'yes'\n", "behaviour.log_text"),
    ],
)
def test_bad_values_are_reported_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "satellite.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(path)


def test_bad_flag_values_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="listen.max_command_s"):
        config_from_args(parse("--listen-max-command-s", "-1"))
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(SystemExit):
        parse("--behaviour-muted", "perhaps")


def test_every_setting_has_a_flag() -> None:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    flags = {opt for action in parser._actions for opt in action.option_strings}
    config = SatelliteConfig()
    for section in ("server", "mic", "speaker", "wake", "listen", "sounds", "behaviour"):
        for key in vars(getattr(config, section)):
            assert f"--{section}-{key.replace('_', '-')}" in flags


def test_the_shipped_example_configuration_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "satellite/systemd/satellite.example.toml"
    config = load_config(example)
    assert config.name == "Kitchen"
    assert config == load_config(example, {"server": {"port": 10700}})


def test_access_settings(tmp_path: Path) -> None:
    assert load_config().server.allowed_peers == []  # trust on first use
    config = config_from_args(parse("--server-allowed-peers", "192.168.1.10, 10.0.0.0/8 fd00::/8"))
    assert config.server.allowed_peers == ["192.168.1.10", "10.0.0.0/8", "fd00::/8"]
    secret = tmp_path / "pairing.secret"
    secret.write_text("  a long enough shared secret\n")
    path = tmp_path / "satellite.toml"
    path.write_text(f"[server]\npairing_secret_file = '{secret}'\nstate_file = '/var/lib/x.json'\n")
    config = load_config(path)
    assert config.server.pairing_secret == "a long enough shared secret"
    assert config.server.state_file == "/var/lib/x.json"
    assert "long enough" not in repr(config)  # never in a log line or traceback
    with pytest.raises(ConfigError, match="not both"):
        load_config(path, {"server": {"pairing_secret": "another long shared secret"}})
    secret.write_text("too short\n")
    with pytest.raises(ConfigError, match="at least 16") as err:
        load_config(path)
    assert "too short" not in str(err.value)
    secret.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        load_config(path)
