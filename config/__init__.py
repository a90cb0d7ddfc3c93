"""Configuration: one Settings object, the state directory, errors and log redaction."""

from config.errors import ConfigError, SelftuneError
from config.settings import Settings, load_settings

__all__ = ["ConfigError", "SelftuneError", "Settings", "load_settings"]
