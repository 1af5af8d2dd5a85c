"""What HACS and Home Assistant's manifest validation check, and en/fr translations in step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from awesomeversion import AwesomeVersion
from homeassistant.helpers import config_validation as cv
import probatio
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INTEGRATION = ROOT / "custom_components" / "jarvis"

# HACS's schema of hacs.json (hacs/integration, utils/validate.py): unknown keys are refused.
HACS_JSON = probatio.Schema(
    {
        probatio.Optional("content_in_root"): bool,
        probatio.Optional("country"): probatio.Any(str, [str]),
        probatio.Optional("filename"): str,
        probatio.Optional("hacs"): str,
        probatio.Optional("hide_default_branch"): bool,
        probatio.Optional("homeassistant"): str,
        probatio.Optional("persistent_directory"): str,
        probatio.Optional("render_readme"): bool,
        probatio.Optional("zip_release"): bool,
        probatio.Required("name"): str,
    },
    extra=probatio.PREVENT_EXTRA,
)


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def leaves(tree: dict[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in tree.items():
        out |= leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key}
    return out


def test_hacs_json() -> None:
    hacs = HACS_JSON(load(ROOT / "hacs.json"))
    assert AwesomeVersion(hacs["homeassistant"]) >= AwesomeVersion("2026.10.0")


def test_manifest() -> None:
    manifest = load(INTEGRATION / "manifest.json")
    assert manifest["domain"] == INTEGRATION.name
    # hassfest: domain, name, then the other keys sorted.
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    for key in ("codeowners", "documentation", "issue_tracker", "version", "iot_class"):
        assert manifest[key], key
    cv.url(manifest["documentation"])
    cv.url(manifest["issue_tracker"])
    assert AwesomeVersion(manifest["version"]).valid
    assert all("==" in requirement for requirement in manifest["requirements"])
    assert manifest["config_flow"] is (INTEGRATION / "config_flow.py").exists()


def test_translations_match_strings() -> None:
    strings = leaves(load(INTEGRATION / "strings.json"))
    for lang in ("en", "fr"):
        assert leaves(load(INTEGRATION / "translations" / f"{lang}.json")) == strings, lang
    # Custom integrations do not resolve [%key:...%] references.
    assert "[%key:" not in (INTEGRATION / "translations" / "en.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["strings.json", "translations/en.json", "translations/fr.json"])
def test_no_url_in_translations(name: str) -> None:
    """hassfest: 'the string should not contain URLs, please use description placeholders'."""
    text = (INTEGRATION / name).read_text(encoding="utf-8")
    assert "http://" not in text
    assert "https://" not in text


@pytest.mark.parametrize("platform", ["binary_sensor", "sensor"])
def test_every_entity_icon_has_a_translated_name(platform: str) -> None:
    icons = load(INTEGRATION / "icons.json")["entity"][platform]
    names = load(INTEGRATION / "strings.json")["entity"][platform]
    assert set(icons) <= set(names)


def test_quality_scale_lists_every_rule() -> None:
    rules = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8"))
    rules = rules["rules"]
    assert len(rules) >= 50
    for name, rule in rules.items():
        status = rule if isinstance(rule, str) else rule["status"]
        assert status in ("done", "todo", "exempt"), name
        if status == "exempt":
            assert rule["comment"], name
