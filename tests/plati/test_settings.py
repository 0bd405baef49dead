"""Settings: defaults, a TOML file under environment variables, the secret key made once, and
one clear ConfigError per bad value."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from plati.errors import PlatiError
from plati.settings import ConfigError, Settings, normalize_database_url


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PLATI_DATA_DIR": str(tmp_path / "data"), **extra}


def test_defaults_put_everything_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings.load(env=env_for(tmp_path))
    data_dir = tmp_path / "data"
    assert settings.data_dir == data_dir
    assert settings.database_url == f"sqlite+aiosqlite:///{data_dir / 'plati.db'}"
    assert settings.allow_stdio is False
    assert settings.mcp_timeout_seconds == 30.0
    assert settings.mcp_max_response_bytes == 1_048_576
    assert settings.tools_ttl_seconds == 3600
    assert settings.max_request_bytes == 1_048_576


def test_without_a_data_dir_the_platform_user_data_dir_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / "user" / app))
    settings = Settings.load(env={})
    assert settings.data_dir == tmp_path / "user" / "plati"
    assert (tmp_path / "user" / "plati" / "secret_key").is_file()


def test_the_secret_key_is_generated_once_privately_and_reused(tmp_path: Path) -> None:
    first = Settings.load(env=env_for(tmp_path))
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700
    assert len(first.secret_key) >= 43
    second = Settings.load(env=env_for(tmp_path))
    assert second.secret_key == first.secret_key
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["secret_key"]


def test_an_explicit_secret_key_writes_no_file(tmp_path: Path) -> None:
    settings = Settings.load(env=env_for(tmp_path, PLATI_SECRET_KEY="from-env"))
    assert settings.secret_key == "from-env"
    assert not (tmp_path / "data" / "secret_key").exists()


def test_the_secret_key_never_shows_in_repr(tmp_path: Path) -> None:
    settings = Settings.load(env=env_for(tmp_path, PLATI_SECRET_KEY="very-secret-value"))
    assert "very-secret-value" not in repr(settings)


def test_environment_variables_win_over_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "plati.toml"
    config.write_text(
        'mcp_timeout_seconds = 5\ntools_ttl_seconds = 60\nallow_stdio = true\ndatabase_url = "sqlite:///from-file.db"\n'
    )
    settings = Settings.load(env=env_for(tmp_path, PLATI_CONFIG=str(config), PLATI_TOOLS_TTL_SECONDS="120"))
    assert settings.mcp_timeout_seconds == 5.0
    assert settings.tools_ttl_seconds == 120
    assert settings.allow_stdio is True
    assert settings.database_url == "sqlite+aiosqlite:///from-file.db"


def test_config_file_argument_is_read(tmp_path: Path) -> None:
    config = tmp_path / "plati.toml"
    config.write_text(f'data_dir = "{tmp_path / "elsewhere"}"\nsecret_key = "k"\n')
    settings = Settings.load(env={}, config_file=config)
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.secret_key == "k"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected


@pytest.mark.parametrize("value", ["1", "true", "yes", "TRUE", "Yes"])
def test_allow_stdio_accepts_the_usual_true_words(tmp_path: Path, value: str) -> None:
    assert Settings.load(env=env_for(tmp_path, PLATI_ALLOW_STDIO=value)).allow_stdio is True


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PLATI_MCP_TIMEOUT_SECONDS", "abc"),
        ("PLATI_MCP_TIMEOUT_SECONDS", "-1"),
        ("PLATI_MCP_TIMEOUT_SECONDS", "0"),
        ("PLATI_MCP_TIMEOUT_SECONDS", "nan"),
        ("PLATI_MCP_MAX_RESPONSE_BYTES", "1.5"),
        ("PLATI_TOOLS_TTL_SECONDS", "-5"),
        ("PLATI_MAX_REQUEST_BYTES", "lots"),
        ("PLATI_ALLOW_STDIO", "maybe"),
        ("PLATI_SQLITE_SYNCHRONOUS", "off"),
        ("PLATI_DATABASE_URL", "mysql://h/db"),
        ("PLATI_DATABASE_URL", "not a url"),
        ("PLATI_SECRET_KEY", ""),
    ],
)
def test_a_bad_value_raises_a_config_error_naming_the_variable(tmp_path: Path, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(env=env_for(tmp_path, **{variable: value}))
    assert isinstance(info.value, PlatiError)
    assert info.value.code == "config_error"
    assert variable in info.value.message
    assert "\n" not in info.value.message


def test_unknown_config_file_keys_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "plati.toml"
    config.write_text("mcp_timeout = 5\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(env=env_for(tmp_path), config_file=config)
    assert "mcp_timeout" in info.value.message


def test_bad_config_file_values_and_syntax_are_rejected(tmp_path: Path) -> None:
    config = tmp_path / "plati.toml"
    config.write_text('tools_ttl_seconds = "soon"\n')
    with pytest.raises(ConfigError) as info:
        Settings.load(env=env_for(tmp_path), config_file=config)
    assert "tools_ttl_seconds" in info.value.message
    config.write_text("tools_ttl_seconds = \n")
    with pytest.raises(ConfigError):
        Settings.load(env=env_for(tmp_path), config_file=config)
    with pytest.raises(ConfigError):
        Settings.load(env=env_for(tmp_path), config_file=tmp_path / "missing.toml")


def test_an_empty_secret_key_file_is_an_error_not_a_silent_new_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret_key").write_text("\n")
    with pytest.raises(ConfigError):
        Settings.load(env=env_for(tmp_path))


def test_settings_are_frozen(tmp_path: Path) -> None:
    import dataclasses

    settings = Settings.load(env=env_for(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.allow_stdio = True  # type: ignore[misc]
