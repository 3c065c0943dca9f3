"""Settings: precedence, secrets never from argv nor shown, refusals that say what to do."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from reconciler.cli.settings import (
    LogFormat,
    Secret,
    Settings,
    SettingsError,
    ShutdownPolicy,
    load_settings,
)
from tests.support.accounts import new_key


def test_defaults_are_safe() -> None:
    settings = load_settings(flags={}, env={})
    assert settings.host is None
    assert settings.chain_id == 137
    assert settings.private_key is None
    assert settings.desired_dir == Path("desired")
    assert settings.state_path == Path("state/reconciler.db")
    assert settings.on_shutdown is ShutdownPolicy.LEAVE
    assert settings.heartbeat is False
    assert settings.log_format is LogFormat.AUTO


def test_the_stream_is_on_unless_switched_off_and_its_url_may_be_set() -> None:
    assert (load_settings(flags={}, env={}).stream, load_settings(flags={}, env={}).ws_url) == (
        True, None)
    assert load_settings(flags={"no_stream": True}, env={}).stream is False
    given = load_settings(flags={"ws_url": "wss://ws.example/ws/"}, env={})
    assert given.ws_url == "wss://ws.example/ws"
    assert load_settings(flags={}, env={"CLOB_WS_URL": "ws://127.0.0.1:9/ws"}).ws_url == (
        "ws://127.0.0.1:9/ws")


def test_flags_win_over_environment() -> None:
    env = {"CLOB_HOST": "https://env.example", "CHAIN_ID": "80002"}
    settings = load_settings(flags={"host": "http://127.0.0.1:9", "chain_id": 137}, env=env)
    assert settings.host == "http://127.0.0.1:9"
    assert settings.chain_id == 137
    only_env = load_settings(flags={}, env=env)
    assert (only_env.host, only_env.chain_id) == ("https://env.example", 80002)


def test_private_key_from_env_is_hidden_in_repr() -> None:
    key = new_key()
    settings = load_settings(flags={}, env={"PRIVATE_KEY": key})
    assert settings.private_key is not None
    assert settings.private_key.reveal() == key
    for text in (repr(settings), str(settings), f"{settings.private_key}"):
        assert key not in text
        assert key[2:] not in text


def test_private_key_without_prefix_is_normalised() -> None:
    key = secrets.token_hex(32)
    settings = load_settings(flags={}, env={"PRIVATE_KEY": key})
    assert settings.private_key == Secret("0x" + key)


def test_private_key_from_file_and_from_credentials_directory(tmp_path: Path) -> None:
    key_a, key_b = new_key(), new_key()
    (tmp_path / "keyfile").write_text(key_a + "\n")
    (tmp_path / "keyfile").chmod(0o600)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "private_key").write_text(key_b)
    (creds / "api_secret").write_text("c2VjcmV0LXNlY3JldC1zZWNyZXQ=")
    (creds / "passphrase").write_text("pass-phrase-words")
    from_file = load_settings(flags={"private_key_file": str(tmp_path / "keyfile")}, env={})
    assert from_file.private_key == Secret(key_a)
    env = {"CREDENTIALS_DIRECTORY": str(creds), "API_KEY": "k-1"}
    from_creds = load_settings(flags={}, env=env)
    assert from_creds.private_key == Secret(key_b)
    assert from_creds.has_api_creds
    assert from_creds.passphrase == Secret("pass-phrase-words")


def test_bad_key_is_refused_without_echoing_it() -> None:
    bad = "0x" + secrets.token_hex(31) + "zz"
    with pytest.raises(SettingsError) as info:
        load_settings(flags={}, env={"PRIVATE_KEY": bad})
    assert bad not in str(info.value)
    assert bad[2:20] not in str(info.value)
    assert "64 hex digits" in str(info.value)


def test_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read --private-key-file"):
        load_settings(flags={"private_key_file": str(tmp_path / "missing")}, env={})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError, match="empty"):
        load_settings(flags={"private_key_file": str(tmp_path / "empty")}, env={})


def test_a_key_given_as_the_key_file_is_refused_without_echo() -> None:
    key = new_key()
    with pytest.raises(SettingsError) as info:
        load_settings(flags={"private_key_file": key}, env={})
    assert "looks like a key" in str(info.value)
    assert key not in str(info.value) and key[2:] not in str(info.value)


def test_partial_api_credentials_are_refused() -> None:
    with pytest.raises(SettingsError, match="partial"):
        load_settings(flags={}, env={"API_KEY": "abc", "SECRET": "c2Vj"})


def test_proxy_signature_type_needs_a_funder() -> None:
    with pytest.raises(SettingsError, match="FUNDER_ADDRESS"):
        load_settings(flags={}, env={"SIGNATURE_TYPE": "1"})
    funder = "0x" + "ab" * 20
    settings = load_settings(flags={}, env={"SIGNATURE_TYPE": "2", "FUNDER_ADDRESS": funder})
    assert (settings.signature_type, settings.funder) == (2, funder)
    with pytest.raises(SettingsError, match="0, 1, 2 or 3|must be 0"):
        load_settings(flags={}, env={"SIGNATURE_TYPE": "7"})
    with pytest.raises(SettingsError, match="20-byte"):
        load_settings(flags={}, env={"SIGNATURE_TYPE": "1", "FUNDER_ADDRESS": "0x12"})


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        ({"host": "clob.example"}, {}, "http:// or https://"),
        ({}, {"CHAIN_ID": "polygon"}, "CHAIN_ID must be an integer"),
        ({"interval": "0"}, {}, "greater than zero"),
        ({"interval": "1e308"}, {}, "from 1 to 86400 seconds"),
        ({"interval": "soon"}, {}, "number of seconds"),
        ({"on_shutdown": "explode"}, {}, "leave, cancel"),
        ({"metrics_port": 70000}, {}, "between 1 and 65535"),
        ({"heartbeat_interval": "12"}, {}, "under 10 seconds"),
        ({"landing_window": "0"}, {}, "--landing-window must be a number of seconds greater than zero"),
        ({"landing_window": "long"}, {}, "--landing-window must be a number of seconds"),
        ({"ws_url": "https://ws.example/ws"}, {}, "--ws-url .* must be a ws:// or wss:// URL"),
        ({}, {"CLOB_WS_URL": "ws://"}, "--ws-url .* must be a ws:// or wss:// URL"),
    ],
)
def test_invalid_values_are_refused(flags: dict, env: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(flags=flags, env=env)


def test_the_landing_window_follows_the_request_timeout_unless_given() -> None:
    from reconciler.engine import default_landing_window

    assert load_settings(flags={}, env={}).landing_window_seconds is None
    assert default_landing_window(10.0) == 50.0  # 2 x the request timeout + 30 s
    given = load_settings(flags={"landing_window": "120", "request_timeout": "5"}, env={})
    assert (given.landing_window_seconds, given.request_timeout_seconds) == (120.0, 5.0)


def test_require_exchange_mentions_paper() -> None:
    with pytest.raises(SettingsError, match="--paper"):
        Settings().require_exchange()
    with pytest.raises(SettingsError, match="--paper"):
        Settings(host="https://clob.example").require_exchange()
    Settings(paper=True).require_exchange()
    Settings(host="https://x.example", private_key=Secret(new_key())).require_exchange()


def test_secrets_lists_every_secret_in_force() -> None:
    key = new_key()
    settings = load_settings(
        flags={}, env={"PRIVATE_KEY": key, "API_KEY": "k", "SECRET": "s3cr3t-x", "PASSPHRASE": "pp-1"}
    )
    assert sorted(settings.secrets()) == sorted([key, "s3cr3t-x", "pp-1"])


def test_loading_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOB_HOST", "http://127.0.0.1:1")
    assert load_settings(flags={}).host == "http://127.0.0.1:1"
    assert os.environ["CLOB_HOST"] == "http://127.0.0.1:1"


def test_paper_runs_keep_their_own_default_state_file() -> None:
    """Paper fills and inventory must never count toward a real account's levels."""
    assert load_settings(flags={"paper": True}, env={}).state_path == Path("state/paper.db")
    assert load_settings(flags={}, env={}).state_path == Path("state/reconciler.db")
    chosen = load_settings(flags={"paper": True, "state": "x.db"}, env={})
    assert chosen.state_path == Path("x.db")
