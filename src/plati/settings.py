"""Platform settings: environment variables over an optional TOML file over defaults.

Read once by the composition root (app factory, CLI) and passed down; nothing here reads the
environment on import.
"""

from __future__ import annotations

import math
import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import platformdirs

from .errors import PlatiError

SECRET_KEY_FILE = "secret_key"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


class ConfigError(PlatiError):
    """A setting has an invalid value, or the config / secret key file cannot be used."""

    status_code = 500
    code = "config_error"


def normalize_database_url(url: str) -> str:
    """Pick the async driver: ``sqlite://`` -> ``sqlite+aiosqlite://``, ``postgres(ql)://`` ->
    ``postgresql+asyncpg://``. URLs that already name a driver are kept."""
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("not a URL (expected e.g. sqlite:///path/plati.db or postgresql://host/db)")
    scheme = scheme.lower()
    if scheme == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    if scheme in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        return f"{scheme}://{rest}"
    raise ValueError(f"unsupported database {scheme!r} (use sqlite:///path/plati.db or postgresql://user@host/db)")


def _parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("expected one of 1/true/yes or 0/false/no")


def _parse_positive_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a positive number")
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a positive number") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError("expected a positive number")
    return number


def _parse_positive_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("expected a positive whole number")
    try:
        number = int(value)
    except ValueError:
        raise ValueError("expected a positive whole number") from None
    if number <= 0:
        raise ValueError("expected a positive whole number")
    return number


def _parse_non_negative_int(value: object) -> int:
    """Like a positive whole number, but 0 is allowed (for a TTL: "do not cache")."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("expected a whole number of 0 or more")
    try:
        number = int(value)
    except ValueError:
        raise ValueError("expected a whole number of 0 or more") from None
    if number < 0:
        raise ValueError("expected a whole number of 0 or more")
    return number


def _parse_str(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


SQLITE_SYNCHRONOUS = ("normal", "full")


def _parse_sqlite_synchronous(value: object) -> str:
    if not isinstance(value, str) or value.strip().lower() not in SQLITE_SYNCHRONOUS:
        raise ValueError("expected normal or full")
    return value.strip().lower()


def _parse_str_list(value: object) -> tuple[str, ...]:
    """A list from TOML, or a comma-separated string from the environment; blanks are dropped."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise ValueError("expected a comma-separated string or a list of strings")
    return tuple(item.strip() for item in items if item.strip())


def _parse_rate_limit(value: object) -> str | None:
    """A ``limits`` expression such as ``600/minute`` or ``10/second; 1000/hour``; ``off`` disables."""
    if not isinstance(value, str):
        raise ValueError("expected a rate such as '600/minute', or 'off'")
    text = value.strip()
    if text.lower() in ("off", "none", "0", ""):
        return None
    from limits import parse_many

    try:
        items = parse_many(text)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise ValueError("expected a rate such as '600/minute' or '10/second; 1000/hour', or 'off'")
    return text


def _parse_redis_url(value: object) -> str:
    url = _parse_str(value)
    if not url.lower().startswith(("redis://", "rediss://")):
        raise ValueError("expected a redis:// or rediss:// URL")
    return url


def _parse_path(value: object) -> Path:
    return Path(_parse_str(value)).expanduser()


def _parse_url(value: object) -> str:
    return normalize_database_url(_parse_str(value))


_PARSERS: dict[str, Callable[[object], Any]] = {
    "data_dir": _parse_path,
    "database_url": _parse_url,
    "sqlite_synchronous": _parse_sqlite_synchronous,
    "secret_key": _parse_str,
    "allow_stdio": _parse_bool,
    "mcp_timeout_seconds": _parse_positive_float,
    "mcp_max_response_bytes": _parse_positive_int,
    "tools_ttl_seconds": _parse_non_negative_int,
    "max_request_bytes": _parse_positive_int,
    "openai_api_key": _parse_str,
    "openai_base_url": _parse_str,
    "openai_model": _parse_str,
    "anthropic_api_key": _parse_str,
    "anthropic_base_url": _parse_str,
    "anthropic_model": _parse_str,
    "provider_timeout_seconds": _parse_positive_float,
    "step_limit": _parse_positive_int,
    "result_max_chars": _parse_positive_int,
    # security (docs/security.md)
    "stdio_commands": _parse_str_list,
    "block_private_networks": _parse_bool,
    "allowed_hosts": _parse_str_list,
    "redis_url": _parse_redis_url,
    "rate_limit": _parse_rate_limit,
    "auth_failure_limit": _parse_rate_limit,
    "max_concurrent_turns": _parse_positive_int,
    "max_mcp_timeout_seconds": _parse_positive_float,
    "max_mcp_response_bytes": _parse_positive_int,
    "max_step_limit": _parse_positive_int,
    "max_provider_timeout_seconds": _parse_positive_float,
    "max_output_tokens": _parse_positive_int,
    # several processes (docs/deployment.md)
    "turn_lease_seconds": _parse_positive_float,
    "queue_timeout_seconds": _parse_positive_float,
}

# The providers' own variable names are honoured too, so an existing setup works unchanged.
_STANDARD_ENV = {
    "openai_api_key": "OPENAI_API_KEY",
    "openai_base_url": "OPENAI_BASE_URL",
    "anthropic_api_key": "ANTHROPIC_API_KEY",
    "anthropic_base_url": "ANTHROPIC_BASE_URL",
}
_SECRET_FIELDS = frozenset({"secret_key", "openai_api_key", "anthropic_api_key", "redis_url"})


def _env_name(field_name: str) -> str:
    return f"PLATI_{field_name.upper()}"


@dataclass(frozen=True)
class Settings:
    """The platform's settings (see docs/platform-architecture.md, "Settings")."""

    data_dir: Path
    database_url: str
    secret_key: str
    # SQLite's PRAGMA synchronous (WAL mode): "normal" survives a crash of the process, "full"
    # also an OS crash or power cut, at an fsync per commit.
    sqlite_synchronous: str = "normal"
    allow_stdio: bool = False
    mcp_timeout_seconds: float = 30.0
    mcp_max_response_bytes: int = 1_048_576
    tools_ttl_seconds: int = 3600
    max_request_bytes: int = 1_048_576
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    anthropic_model: str = "claude-3-5-haiku-latest"
    provider_timeout_seconds: float = 60.0
    step_limit: int = 8
    result_max_chars: int = 16_000
    # -- security (docs/security.md) --------------------------------------------------------
    # With stdio allowed, only these commands may be run (empty: any command).
    stdio_commands: tuple[str, ...] = ()
    # Refuse loopback and private addresses for workspace-chosen URLs (function servers, model
    # base URLs), except the hosts / CIDRs of ``allowed_hosts``.
    block_private_networks: bool = False
    allowed_hosts: tuple[str, ...] = ()
    # Shared state of several API processes (rate-limit counts); memory when unset.
    redis_url: str | None = None
    # Requests per API key, and failed authentications per client address (None: no limit).
    rate_limit: str | None = "1200/minute"
    auth_failure_limit: str | None = "30/minute"
    # Turns running at once in one workspace (beyond: 429).
    max_concurrent_turns: int = 32
    # Operator maximums for what a workspace may set (beyond: 422).
    max_mcp_timeout_seconds: float = 300.0
    max_mcp_response_bytes: int = 8 * 1_048_576
    max_step_limit: int = 32
    max_provider_timeout_seconds: float = 300.0
    max_output_tokens: int = 32_768
    # -- several processes (docs/deployment.md) ---------------------------------------------
    # A running turn's owner renews its lease every third of this; a turn whose lease ran out
    # (its process stopped) is marked failed by any live process, so within about this long.
    turn_lease_seconds: float = 15.0
    # How long a message waits for the running turn of its conversation (policy ``enqueue`` or
    # ``interrupt``) before it is answered 409 ``conversation_busy``.
    queue_timeout_seconds: float = 120.0

    def __repr__(self) -> str:  # keep the secret key out of logs and tracebacks
        shown = ", ".join(
            f"{f.name}={'***' if f.name in _SECRET_FIELDS else repr(getattr(self, f.name))}" for f in fields(self)
        )
        return f"Settings({shown})"

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, config_file: Path | None = None) -> Settings:
        """Read settings from ``env`` (default: ``os.environ``) over the TOML file named by
        ``config_file`` or ``PLATI_CONFIG`` over the defaults.

        Without ``PLATI_SECRET_KEY`` the secret key is read from ``{data_dir}/secret_key``,
        which is created (mode 0600, in a 0700 data dir) the first time.

        Raises:
            ConfigError: a value is invalid, the config file cannot be read or has unknown keys,
                or the secret key file cannot be created or read.
        """
        if env is None:
            env = os.environ
        if config_file is None and env.get("PLATI_CONFIG"):
            config_file = Path(env["PLATI_CONFIG"]).expanduser()

        values: dict[str, Any] = {}
        if config_file is not None:
            for name, raw in _read_config_file(config_file).items():
                values[name] = _parse(name, raw, f"{name} in {config_file}")
        for name in _PARSERS:
            env_name = _env_name(name)
            if env_name in env:
                values[name] = _parse(name, env[env_name], env_name)
            elif name in _STANDARD_ENV and env.get(_STANDARD_ENV[name]) and name not in values:
                values[name] = _parse(name, env[_STANDARD_ENV[name]], _STANDARD_ENV[name])

        data_dir: Path = values.get("data_dir") or Path(platformdirs.user_data_dir("plati"))
        values["data_dir"] = data_dir
        if "database_url" not in values:
            values["database_url"] = f"sqlite+aiosqlite:///{data_dir / 'plati.db'}"
        if values["database_url"].startswith("sqlite+aiosqlite:///"):
            _ensure_sqlite_dir(values["database_url"])
        if "secret_key" not in values:
            values["secret_key"] = _load_or_create_secret_key(data_dir)
        settings = cls(**values)
        settings._check_maximums()
        return settings

    def _check_maximums(self) -> None:
        for default, maximum in (
            ("mcp_timeout_seconds", "max_mcp_timeout_seconds"),
            ("mcp_max_response_bytes", "max_mcp_response_bytes"),
            ("step_limit", "max_step_limit"),
            ("provider_timeout_seconds", "max_provider_timeout_seconds"),
        ):
            if getattr(self, default) > getattr(self, maximum):
                raise ConfigError(
                    f"{_env_name(default)}={getattr(self, default)!r} is above {_env_name(maximum)}="
                    f"{getattr(self, maximum)!r}; raise the maximum or lower the default."
                )


def _parse(name: str, raw: object, source: str) -> Any:
    try:
        return _PARSERS[name](raw)
    except ValueError as exc:
        shown = "***" if name in _SECRET_FIELDS else repr(raw)
        raise ConfigError(f"Invalid {source}={shown}: {exc}.") from None


def _read_config_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"Cannot read the config file {path} (PLATI_CONFIG): {exc.strerror}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from None
    unknown = sorted(set(data) - set(_PARSERS))
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {', '.join(unknown)} in the config file {path}; known keys are {', '.join(_PARSERS)}."
        )
    return data


def _ensure_sqlite_dir(url: str) -> None:
    path = url.removeprefix("sqlite+aiosqlite:///").split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    directory = Path(path).parent
    if directory.exists():
        return
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"Cannot create the database directory {directory}: {exc.strerror}.") from None


def _load_or_create_secret_key(data_dir: Path) -> str:
    path = data_dir / SECRET_KEY_FILE
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            _create_secret_key_file(path)
        key = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"Cannot create or read the secret key file {path}: {exc.strerror}.") from None
    if not key:
        raise ConfigError(f"The secret key file {path} is empty; restore it from a backup or set PLATI_SECRET_KEY.")
    return key


def _create_secret_key_file(path: Path) -> None:
    # Written in full to a private temporary file, then hard-linked into place: the link fails if
    # another process got there first, so two processes starting at once agree on one key and
    # nobody ever reads a half-written file.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["ConfigError", "Settings", "normalize_database_url"]
