"""Wyoming satellite server: what Home Assistant's `wyoming` integration connects to and drives."""

from .satellite import Satellite, SatelliteState
from .tcp import SatelliteServer

__all__ = ["Satellite", "SatelliteServer", "SatelliteState"]
