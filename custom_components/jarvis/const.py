"""Constants for the Jarvis integration."""

import logging

DOMAIN = "jarvis"
LOGGER = logging.getLogger(__package__)

DEFAULT_URL = "http://127.0.0.1:11434"
DEFAULT_TIMEOUT = 10.0  # seconds, for connecting to Ollama

# Subentry: one conversation agent (model + persona) per subentry.
SUBENTRY_CONVERSATION = "conversation"
DEFAULT_AGENT_NAME = "Jarvis"

# Agent options (subentry data). CONF_MODEL, CONF_PROMPT and CONF_LLM_HASS_API come from HA.
CONF_PREFER_LOCAL = "prefer_local"
DEFAULT_PREFER_LOCAL = True
CONF_MAX_HISTORY = "max_history"
DEFAULT_MAX_HISTORY = 20
CONF_KEEP_ALIVE = "keep_alive"
DEFAULT_KEEP_ALIVE = -1  # seconds; -1 = keep the model loaded, 0 = unload at once
CONF_NUM_CTX = "num_ctx"
DEFAULT_NUM_CTX = 8192
MIN_NUM_CTX = 2048
MAX_NUM_CTX = 131072
CONF_TEMPERATURE = "temperature"
DEFAULT_TEMPERATURE = 0.7
CONF_THINK = "think"
DEFAULT_THINK = False
# Safe actions: what the agent does when asked to unlock, open a garage door or disarm.
CONF_SAFE_ACTIONS = "safe_actions"
SAFE_ACTIONS_ALLOW = "allow"  # act at once
SAFE_ACTIONS_CONFIRM = "confirm"  # ask "Do you want me to ...?" and act after "yes"
SAFE_ACTIONS_REFUSE = "refuse"  # never act by voice
SAFE_ACTIONS_MODES = (SAFE_ACTIONS_ALLOW, SAFE_ACTIONS_CONFIRM, SAFE_ACTIONS_REFUSE)
DEFAULT_SAFE_ACTIONS = SAFE_ACTIONS_CONFIRM
CONF_PROTECTED_COVERS = "protected_covers"  # covers treated as garage doors
CONFIRMATION_TIMEOUT = 30.0  # seconds a question "Do you want me to ...?" waits for "yes"
CONF_EMBED_MODEL = "embed_model"  # Ollama embedding model for searching memories by meaning

# Jarvis's own LLM API (tools beside HA's Assist API).
JARVIS_LLM_API_ID = "jarvis"

# Repair issues.
ISSUE_UNREACHABLE = "ollama_unreachable"
ISSUE_MODEL_MISSING = "model_missing"

# Health polling of the Ollama server (coordinator).
UPDATE_INTERVAL_HEALTHY = 30.0  # seconds between polls while the server answers
RETRY_INTERVAL_MIN = 5.0  # first retry after a failed poll, doubled each time ...
RETRY_INTERVAL_MAX = 120.0  # ... up to this

# Devices.
MANUFACTURER = "Ollama"

# Satellites: each Jarvis satellite is its own config entry (entry data "kind" = "satellite").
CONF_ENTRY_KIND = "kind"
ENTRY_KIND_SATELLITE = "satellite"
CONF_SATELLITE_ID = "satellite_id"
CONF_PAIRING_SECRET = "pairing_secret"
CONF_ARBITRATION = "arbitration"  # option: one room answers a wake word heard by several
DEFAULT_ARBITRATION = True
DEFAULT_SATELLITE_PORT = 10700
SATELLITE_MANUFACTURER = "Jarvis"
ZEROCONF_JARVIS_PROPERTY = "jarvis"  # TXT property that marks a Jarvis satellite
ZEROCONF_JARVIS_SATELLITE = "satellite"
