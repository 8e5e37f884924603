"""A production look-alike for tests and benchmarks: every DE column plus production's PII.

Each production table is its DE raw mirror table plus the personal columns production really has
(names, e-mails, phones, addresses, passwords, tokens, birth dates, free-text reviews). Filling it
from a demo world and syncing it back proves what the copier does and does not read. Each PII
column's ``info["fake"]`` names the generator that fills it with seeded, obviously fake values.
"""
from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from sqlalchemy import Column, Date, MetaData, SmallInteger, String, Table, Text

from kurrant_core import schema
from kurrant_core.db import init_db, make_engine

production_metadata = MetaData()


def _pii(name: str, type_: sa.types.TypeEngine, fake: str) -> Column:
    return Column(name, type_, nullable=False, info={"fake": fake})


PII_COLUMNS: dict[str, list[Column]] = {
    schema.client_group.name: [_pii("manager_name", String(40), "person_name"),
                               _pii("manager_phone", String(20), "phone"),
                               _pii("manager_email", String(120), "email")],
    schema.client_spot.name: [_pii("address_depth_1", String(200), "address"),
                              _pii("address_depth_2", String(100), "address_detail"),
                              _pii("zip_code", String(10), "zip_code")],
    schema.user_user.name: [_pii("name", String(40), "person_name"),
                            _pii("email", String(120), "email"),
                            _pii("phone", String(20), "phone"),
                            _pii("password", String(100), "password_hash"),
                            _pii("birth_date", Date, "birth_date"),
                            _pii("firebase_token", String(200), "token")],
    schema.user_preference.name: [_pii("birth_year", SmallInteger, "birth_year"),
                                   _pii("gender", SmallInteger, "gender")],
    schema.makers.name: [_pii("ceo", String(40), "person_name"),
                         _pii("ceo_phone", String(20), "phone"),
                         _pii("manager_phone", String(20), "phone"),
                         _pii("address", String(200), "address"),
                         _pii("company_registration_number", String(20), "registration_number"),
                         _pii("account_number", String(30), "account_number")],
    schema.order.name: [_pii("receiver_name", String(40), "person_name"),
                        _pii("phone", String(20), "phone"),
                        _pii("payment_key", String(200), "token")],
    schema.order_daily_food.name: [_pii("address", String(200), "address")],
    schema.review.name: [_pii("content", Text, "review_text")],
}
"""Production columns the DE must never hold, per table (tables absent here have none)."""


def _production_table(table: sa.Table) -> Table:
    copy = table.to_metadata(production_metadata)
    for column in PII_COLUMNS.get(table.name, []):
        copy.append_column(column)
    return copy


PRODUCTION_TABLES: dict[str, Table] = {t.name: _production_table(t) for t in schema.RAW_TABLES}


def create_production_schema(engine: sa.Engine) -> None:
    """Create the production look-alike tables (idempotent)."""
    production_metadata.create_all(engine, checkfirst=True)


# ------------------------------------------------------------------------------ fake PII values
_SURNAMES = list("김이박최정강조윤장임한오서신권황안송류홍")
_GIVEN = ["민준", "서연", "도윤", "지우", "하준", "서윤", "은우", "지호", "수아", "예준", "하은", "지민"]
_DISTRICTS = ["강남구 테헤란로", "서초구 서초대로", "마포구 월드컵북로", "성동구 왕십리로", "송파구 올림픽로"]
_REVIEW_WORDS = ["맛있어요", "양이 많아요", "배송이 빨라요", "조금 짰어요", "또 시킬게요", "따뜻했어요"]
_HEX = np.array(list("0123456789abcdef"))


def _strings(rng: np.random.Generator, n: int, alphabet: np.ndarray, length: int) -> list[str]:
    return ["".join(chars) for chars in rng.choice(alphabet, size=(n, length))]


def _digits(rng: np.random.Generator, n: int, length: int) -> list[str]:
    return _strings(rng, n, _HEX[:10], length)


def fake_values(kind: str, ids: np.ndarray, rng: np.random.Generator) -> list:
    """``len(ids)`` fake values of ``kind``; ids make e-mails and tokens unique."""
    n = len(ids)
    if kind == "person_name":
        return [s + g for s, g in zip(rng.choice(_SURNAMES, n), rng.choice(_GIVEN, n))]
    if kind == "email":
        return [f"user{i}.{h}@example.com" for i, h in zip(ids, _strings(rng, n, _HEX, 6))]
    if kind == "phone":
        return [f"010-{a}-{b}" for a, b in zip(_digits(rng, n, 4), _digits(rng, n, 4))]
    if kind == "password_hash":
        return ["$2a$10$" + s for s in _strings(rng, n, _HEX, 53)]
    if kind == "token":
        return [f"tok_{i}_{s}" for i, s in zip(ids, _strings(rng, n, _HEX, 40))]
    if kind == "birth_date":
        return [date(1965, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 37 * 365, n)]
    if kind == "birth_year":
        return [int(y) for y in rng.integers(1965, 2003, n)]
    if kind == "gender":
        return [int(g) for g in rng.integers(1, 3, n)]
    if kind == "address":
        return [f"서울특별시 {d} {int(k)}" for d, k in zip(rng.choice(_DISTRICTS, n), rng.integers(1, 500, n))]
    if kind == "address_detail":
        return [f"{int(f)}층 {int(r)}호" for f, r in zip(rng.integers(1, 30, n), rng.integers(1, 20, n))]
    if kind == "zip_code":
        return _digits(rng, n, 5)
    if kind == "registration_number":
        return [f"{a[:3]}-{a[3:5]}-{a[5:]}" for a in _digits(rng, n, 10)]
    if kind == "account_number":
        return [f"{a[:3]}-{a[3:9]}-{a[9:]}" for a in _digits(rng, n, 14)]
    if kind == "review_text":
        return [" ".join(rng.choice(_REVIEW_WORDS, 2)) + f" (주문자 연락처 010-{a[:4]}-{a[4:]})"
                for a in _digits(rng, n, 8)]
    raise ValueError(f"no fake generator for {kind!r}")


# ----------------------------------------------------------------------------------- filling it
def copy_into_production(de_engine: sa.Engine, production_engine: sa.Engine, *, seed: int = 0,
                         chunk_size: int = 20_000) -> dict[str, int]:
    """Copy every raw mirror row of ``de_engine`` into production, adding seeded fake PII."""
    create_production_schema(production_engine)
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for table in schema.RAW_TABLES:
        target, pii = PRODUCTION_TABLES[table.name], PII_COLUMNS.get(table.name, [])
        (key,) = table.primary_key.columns
        last, n = None, 0
        with de_engine.connect() as src, production_engine.begin() as dst:
            while True:
                query = sa.select(table).order_by(key).limit(chunk_size)
                rows = src.execute(query if last is None else query.where(key > last)).all()
                if not rows:
                    break
                records = [dict(r._mapping) for r in rows]
                ids = np.array([r[key.name] for r in records])
                for column in pii:
                    for record, value in zip(records, fake_values(column.info["fake"], ids, rng)):
                        record[column.name] = value
                dst.execute(target.insert(), records)
                last, n = ids[-1].item(), n + len(records)
        counts[table.name] = n
    return counts


def fill_production_from_demo(production_engine: sa.Engine, scale: str = "tiny",
                              seed: int = 42) -> dict[str, int]:
    """Generate the demo world (into a throw-away SQLite DE) and copy it into production with PII."""
    from kurrant_core.demo import generate_demo_world
    with tempfile.TemporaryDirectory() as folder:
        demo = make_engine(f"sqlite:///{Path(folder) / 'demo.sqlite'}")
        init_db(demo)
        generate_demo_world(demo, scale=scale, seed=seed)
        counts = copy_into_production(demo, production_engine, seed=seed)
        demo.dispose()
    return counts
