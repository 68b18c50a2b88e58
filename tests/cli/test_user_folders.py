"""Where the CLI keeps its user files: the client config and the memo, in the user's folders."""

from __future__ import annotations

import os

import pytest

from civic.client import config
from civic.control import memo


@pytest.fixture
def home(tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", config.CONFIG_ENV):
        monkeypatch.delenv(name, raising=False)
    return str(tmp_path)


def test_without_xdg_variables_the_paths_are_those_of_earlier_releases(home):
    assert config.path() == os.path.join(home, ".config", "civic", "client.json")
    assert os.path.dirname(memo.path_for("/estate")) == os.path.join(home, ".cache", "civic")


def test_xdg_variables_choose_the_folders(home, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", os.path.join(home, "conf"))
    monkeypatch.setenv("XDG_CACHE_HOME", os.path.join(home, "cache"))
    assert config.path() == os.path.join(home, "conf", "civic", "client.json")
    assert os.path.dirname(memo.path_for("/estate")) == os.path.join(home, "cache", "civic")


def test_a_config_saved_where_earlier_releases_kept_it_is_still_read(home, monkeypatch):
    """They ignored XDG_CONFIG_HOME: after an upgrade the CLI still finds the token."""
    monkeypatch.setenv("XDG_CONFIG_HOME", os.path.join(home, "conf"))
    os.makedirs(os.path.join(home, ".config", "civic"))
    with open(os.path.join(home, ".config", "civic", "client.json"), "w") as f:
        f.write('{"url": "http://127.0.0.1:7470", "token": "old"}')
    assert config.stored() == config.Config("http://127.0.0.1:7470", "old")
    where = config.save(config.Config("http://127.0.0.1:7470", "new"))
    assert where == config.path() and config.stored().token == "new"


def test_civic_config_names_the_file_and_nothing_else_is_read(home, monkeypatch):
    os.makedirs(os.path.join(home, ".config", "civic"))
    with open(os.path.join(home, ".config", "civic", "client.json"), "w") as f:
        f.write('{"url": "http://127.0.0.1:7470", "token": "old"}')
    monkeypatch.setenv(config.CONFIG_ENV, os.path.join(home, "mine.json"))
    assert config.path() == os.path.join(home, "mine.json") and config.stored() is None
