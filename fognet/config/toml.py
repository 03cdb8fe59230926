"""The one set of TOML field readers: every file people write is read and checked here.

Cluster files, device profiles and simulator scenarios all read their fields through
these functions, so a mistake reads the same wherever it is made: one line naming the
file and the field, e.g. `peers/x.toml: peers[2].speed: must be positive, not -1`.

A `Where` is a place in a file (`Where(path)` is its top level; `.item(i)` and `.key(k)`
step into an array entry and a field); readers take the table, the key and the table's
`Where`. A reader with no `default` makes its field required; with one, an absent field
gives the default and a present one is checked all the same.

API
    Where(file, field="")   .key(k), .item(i), .error(message) -> ConfigError, str()
    read(path) -> dict                       ConfigError: no such file, unreadable, not TOML
    check_keys(raw, allowed, where)          unknown field -> ConfigError listing the known
    number(raw, key, where, default=REQUIRED, positive=True) -> float
    optional_number(raw, key, where, positive=True) -> float | None
    integer(raw, key, where, default=REQUIRED, minimum=0) -> int
    string(raw, key, where, default=REQUIRED) -> str      non-empty
    flag(raw, key, where, default=REQUIRED) -> bool
    choice(raw, key, where, choices, default=REQUIRED) -> str
    table(raw, key, where) -> Mapping        absent -> {}
    tables(raw, key, where) -> list[Mapping] an array of tables ([[key]]); absent -> []
    array(raw, key, where, kind, default=REQUIRED) -> list   of `kind` (float takes integers)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fognet.errors import ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a field that must be given


@dataclass(frozen=True)
class Where:
    """A place in a TOML file, as errors name it: `file` or `file: peers[2].speed`."""

    file: str
    field: str = ""

    def key(self, key: str) -> Where:
        return Where(self.file, f"{self.field}.{key}" if self.field else key)

    def item(self, index: int) -> Where:
        return Where(self.file, f"{self.field}[{index}]")

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self}: {message}")

    def __str__(self) -> str:
        return f"{self.file}: {self.field}" if self.field else self.file


def read(path: str | Path) -> dict[str, Any]:
    """A TOML file's tables; every way it can fail is one ConfigError naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def check_keys(raw: Mapping[str, Any], allowed: Sequence[str] | set[str], where: Where) -> None:
    """A misspelt field is an error, not silently ignored."""
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        known = ", ".join(sorted(allowed) if isinstance(allowed, set) else allowed)
        raise where.error(f"unknown field {unknown[0]!r} (known: {known})")


def _given(raw: Mapping[str, Any], key: str, where: Where, default: Any) -> tuple[bool, Any]:
    """(present, value): the file's value, or the default; a required field missing raises."""
    if key in raw:
        return True, raw[key]
    if default is REQUIRED:
        raise where.key(key).error("missing (required)")
    return False, default


def number(raw: Mapping[str, Any], key: str, where: Where, default: Any = REQUIRED, *,
           positive: bool = True) -> float:
    """A finite number, > 0 if `positive`, else >= 0."""
    present, value = _given(raw, key, where, default)
    if not present:
        return value
    at = where.key(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise at.error(f"must be a number, not {value!r}")
    if positive and value <= 0:
        raise at.error(f"must be positive, not {value!r}")
    if value < 0:
        raise at.error(f"must not be negative, not {value!r}")
    return float(value)


def optional_number(raw: Mapping[str, Any], key: str, where: Where, *, positive: bool = True) -> float | None:
    """A number if the field is given (checked as `number` checks it), else None."""
    return number(raw, key, where, None, positive=positive)


def integer(raw: Mapping[str, Any], key: str, where: Where, default: Any = REQUIRED, *, minimum: int = 0) -> int:
    present, value = _given(raw, key, where, default)
    if present and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise where.key(key).error(f"must be an integer >= {minimum}, not {value!r}")
    return value


def string(raw: Mapping[str, Any], key: str, where: Where, default: Any = REQUIRED) -> str:
    present, value = _given(raw, key, where, default)
    if present and (not isinstance(value, str) or not value.strip()):
        raise where.key(key).error(f"must be a non-empty string, not {value!r}")
    return value


def flag(raw: Mapping[str, Any], key: str, where: Where, default: Any = REQUIRED) -> bool:
    present, value = _given(raw, key, where, default)
    if present and not isinstance(value, bool):
        raise where.key(key).error(f"must be true or false, not {value!r}")
    return value


def choice(raw: Mapping[str, Any], key: str, where: Where, choices: Sequence[str], default: Any = REQUIRED) -> str:
    present, value = _given(raw, key, where, default)
    if present and value not in choices:
        raise where.key(key).error(f"must be one of {', '.join(choices)}, not {value!r}")
    return value


def table(raw: Mapping[str, Any], key: str, where: Where) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, Mapping):
        raise where.key(key).error(f"must be a table ([{key}])")
    return value


def tables(raw: Mapping[str, Any], key: str, where: Where) -> list[Mapping[str, Any]]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise where.key(key).error(f"must be an array of tables ([[{key}]])")
    return value


def array(raw: Mapping[str, Any], key: str, where: Where, kind: type, default: Any = REQUIRED) -> list:
    """A list whose every item is a `kind` (a float field takes integers; no booleans)."""
    present, value = _given(raw, key, where, default)
    ok = isinstance(value, list) and all(
        not isinstance(v, bool) and (isinstance(v, kind) or (kind is float and isinstance(v, int))) for v in value
    )
    if present and not ok:
        raise where.key(key).error(f"must be a list of {kind.__name__}s, not {value!r}")
    return [kind(v) for v in value]
