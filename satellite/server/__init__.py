"""Wyoming satellite server: what Home Assistant's `wyoming` integration connects to and drives."""

from .connection import LIMITS, SatelliteConnection
from .satellite import Satellite
from .session import SatelliteState

__all__ = ["LIMITS", "Satellite", "SatelliteConnection", "SatelliteState"]
