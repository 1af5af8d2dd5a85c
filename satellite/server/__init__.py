"""Wyoming satellite server: what Home Assistant's `wyoming` integration connects to and drives."""

from .connection import LIMITS, SatelliteConnection
from .satellite import Satellite, SatelliteState

__all__ = ["LIMITS", "Satellite", "SatelliteConnection", "SatelliteState"]
