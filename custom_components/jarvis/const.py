"""Constants for the Jarvis integration."""

import logging

DOMAIN = "jarvis"
LOGGER = logging.getLogger(__package__)

DEFAULT_URL = "http://127.0.0.1:11434"
