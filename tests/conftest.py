"""Shared test set-up: make the project's `custom_components` the one Home Assistant finds."""

from __future__ import annotations

from pathlib import Path
import sys

ROOT = Path(__file__).resolve().parent.parent

# pytest-homeassistant-custom-component ships its own `testing_config/custom_components`
# package; import ours first so HA's loader resolves `custom_components.jarvis` to this repo.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
for name in [
    m for m in sys.modules if m == "custom_components" or m.startswith("custom_components.")
]:
    del sys.modules[name]
import custom_components  # noqa: E402

assert Path(custom_components.__path__[0]).resolve() == ROOT / "custom_components"
