"""Column types that behave the same on SQLite and PostgreSQL.

- `UTCDateTime`: aware UTC datetimes in, aware UTC datetimes out. SQLite has no
  time zones, so values are stored as naive UTC text and tagged UTC on the way
  back; PostgreSQL stores `timestamptz`. Naive datetimes are refused: a naive
  value in the store is always a bug (the clock rule says aware UTC only).
- `BigNumber`: integers of up to 49 decimal digits (CRL numbers may have 20
  octets, beyond BIGINT), stored as zero-padded text so that SQL ordering is
  numeric ordering on both databases.
- `JSON_VALUE`: JSON, JSONB on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

__all__ = ["JSON_VALUE", "BigNumber", "UTCDateTime"]

JSON_VALUE = JSON().with_variant(JSONB(), "postgresql")

_BIG_DIGITS = 49


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: pass an aware UTC value")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if not isinstance(value, dt.datetime):  # pragma: no cover - driver contract
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class BigNumber(TypeDecorator[int]):
    """A non-negative integer of up to 49 digits, ordered numerically in SQL."""

    impl = String(_BIG_DIGITS)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:  # noqa: ARG002
        if value is None:
            return None
        if value < 0 or len(str(value)) > _BIG_DIGITS:
            raise ValueError(f"number out of range for BigNumber: {value}")
        return str(value).zfill(_BIG_DIGITS)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:  # noqa: ARG002
        return None if value is None else int(value)
