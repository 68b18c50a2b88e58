"""Where the CLI finds the API and its token: a small JSON file only its owner can read.

``civic up`` writes it (:func:`save`); every command that talks to the API reads it
(:func:`load`). It lives in the user's config folder (platformdirs: on Linux
``$XDG_CONFIG_HOME/civic``, else ``~/.config/civic``). ``CIVIC_CONFIG`` names another
file; ``CIVIC_API_URL`` and ``CIVIC_TOKEN`` override what it holds (a team token, for
instance).
"""

from __future__ import annotations

import dataclasses
import json
import os

import platformdirs

from civic.errors import UsageError

CONFIG_ENV = "CIVIC_CONFIG"
LEGACY = os.path.join("~", ".config", "civic", "client.json")
"""Where releases before platformdirs kept the file whatever ``XDG_CONFIG_HOME`` said: read
when :func:`path` has none, so that an upgrade still finds the token ``civic up`` saved."""


@dataclasses.dataclass(frozen=True)
class Config:
    url: str
    token: str = dataclasses.field(repr=False)


def path() -> str:
    return os.environ.get(CONFIG_ENV) or os.path.join(
        platformdirs.user_config_dir("civic", appauthor=False), "client.json"
    )


def save(config: Config) -> str:
    where = path()
    os.makedirs(os.path.dirname(os.path.abspath(where)), mode=0o700, exist_ok=True)
    fd = os.open(where + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover .tmp keeps the mode it was made with
    with os.fdopen(fd, "w") as f:
        json.dump({"url": config.url, "token": config.token}, f)
    os.replace(where + ".tmp", where)
    return where


def stored() -> Config | None:
    where = path()
    if not os.environ.get(CONFIG_ENV) and not os.path.exists(where):
        where = os.path.expanduser(LEGACY)
    try:
        with open(where) as f:
            data = json.load(f)
        return Config(str(data["url"]), str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load() -> Config:
    saved = stored()
    url = os.environ.get("CIVIC_API_URL") or (saved.url if saved else None)
    token = os.environ.get("CIVIC_TOKEN") or (saved.token if saved else None)
    if not url or not token:
        raise UsageError(
            f"Civic's API is not known here: no {path()}. Start Civic with 'civic up' "
            "(it saves the address and the admin token there), or set CIVIC_API_URL "
            "and CIVIC_TOKEN."
        )
    return Config(url, token)
