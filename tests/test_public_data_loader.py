"""The public-data loader: ratings in RecBole's MovieLens format -> raw mirror -> marts.

A tiny hand-written ratings file stands in for MovieLens-100K, so recbole is not needed.
"""
from __future__ import annotations

from datetime import date, datetime, timezone

import pandas as pd
import pytest
import sqlalchemy as sa

from kurrant_core import codes, columns as C, public_data as P, schema as S
from kurrant_core.preprocess import preprocess

# user, item, rating, Unix time (UTC); two ratings of user 7 on the same day
RATINGS = [(7, 10, 4, datetime(1997, 9, 20, 10, 0)), (7, 11, 2, datetime(1997, 9, 20, 23, 59)),
           (8, 10, 5, datetime(1997, 9, 21, 0, 1)), (9, 12, 3, datetime(1997, 10, 3, 12, 0)),
           (8, 12, 1, datetime(1997, 10, 4, 8, 30))]
ITEMS = [(10, "Toy Story", "1995", "Animation Children's Comedy"), (11, "GoldenEye", "1995", "Action"),
         (12, "Four \"Rooms\"", "1995", "Thriller Film-Noir"), (13, "Never Rated", "", "unknown")]


def _unix(moment: datetime) -> int:
    return int(moment.replace(tzinfo=timezone.utc).timestamp())


@pytest.fixture
def ratings_folder(tmp_path):
    """The ratings above as ``ml-100k.inter`` / ``ml-100k.item`` in RecBole's atomic format."""
    inter = ["user_id:token\titem_id:token\trating:float\ttimestamp:float"]
    inter += [f"{u}\t{i}\t{float(r)}\t{float(_unix(t))}" for u, i, r, t in RATINGS]
    item = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    item += ["\t".join(map(str, row)) for row in ITEMS]
    (tmp_path / "ml-100k.inter").write_text("\n".join(inter) + "\n", encoding="utf-8")
    (tmp_path / "ml-100k.item").write_text("\n".join(item) + "\n", encoding="utf-8")
    return tmp_path


def test_read_movielens_parses_the_atomic_files(ratings_folder):
    data = P.read_movielens(ratings_folder)
    assert data.ratings[P.RATING].tolist() == [r for _, _, r, _ in RATINGS]
    assert data.items[P.TITLE].tolist()[2] == "Four \"Rooms\""
    assert data.items[P.GENRES].tolist()[0] == ["Animation", "Children's", "Comedy"]
    assert data.items[P.RELEASE_YEAR].isna().tolist() == [False, False, False, True]


def test_genres_map_onto_distinct_menu_character_tags():
    tags = list(P.GENRE_TAGS.values())
    assert len(P.GENRE_TAGS) == 19 and len(set(tags)) == 19
    assert all(codes.tag_category(t) == codes.MENU_CHARACTER for t in tags)
    assert P.food_tags(["Comedy", "Action", "Nope"]) == f"{P.GENRE_TAGS['Action']},{P.GENRE_TAGS['Comedy']}"


def test_tail_split_holds_the_last_share_of_the_span(ratings_folder):
    ratings = P.read_movielens(ratings_folder).ratings
    # 1997-09-20 .. 1997-10-04 is 15 days; 12.5 % of them is 1.875 -> the last 2 days
    assert P.tail_split(ratings) == (date(1997, 10, 3), 2)
    assert P.tail_split(ratings, share=0.5) == (date(1997, 9, 27), 8)


def test_loaded_ratings_become_paid_lunch_items(empty_engine, ratings_folder):
    data = P.read_movielens(ratings_folder)
    counts = P.load_ratings(empty_engine, data)
    assert counts[S.order_item.name] == len(RATINGS)
    assert counts[S.daily_food.name] == 4 * 4        # 4 service days x every movie
    preprocess(empty_engine)
    with empty_engine.connect() as conn:
        items = pd.read_sql(sa.select(S.mart_order_item), conn)
        foods = pd.read_sql(sa.select(S.mart_food).order_by(S.mart_food.c[C.FOOD_ID]), conn)
        menu = pd.read_sql(sa.select(S.mart_daily_menu), conn)
    assert len(items) == len(RATINGS)
    assert items[C.IS_PAID].astype(bool).all() and not items[C.IS_CANCELLED].astype(bool).any()
    assert set(items[C.DINING_TYPE]) == {codes.LUNCH}
    assert items[C.GROUP_ID].nunique() == 1 and items[C.MAKERS_ID].nunique() == 1
    got = sorted(zip(items[C.USER_ID], items[C.FOOD_ID], items[C.SATISFACTION],
                     pd.to_datetime(items[C.SERVICE_DATE]).dt.date))
    assert got == sorted((u, i, r, t.date()) for u, i, r, t in RATINGS)   # the UTC day
    assert foods[C.FOOD_ID].tolist() == [10, 11, 12, 13]
    assert set(foods[C.FOOD_STATUS]) == {codes.FOOD_ON_SALE}
    assert foods[C.FOOD_TAGS].tolist() == [
        P.food_tags(["Animation", "Children's", "Comedy"]), str(P.GENRE_TAGS["Action"]),
        P.food_tags(["Thriller", "Film-Noir"]), str(P.GENRE_TAGS["unknown"])]
    # every order is on its day's menu, which holds every movie
    on_menu = items.merge(menu, on=[C.DAILY_FOOD_ID, C.FOOD_ID, C.GROUP_ID], suffixes=("", "_menu"))
    assert len(on_menu) == len(RATINGS)
    assert (pd.to_datetime(on_menu[C.SERVICE_DATE]) == pd.to_datetime(on_menu[C.SERVICE_DATE + "_menu"])).all()
    assert menu.groupby(C.SERVICE_DATE)[C.FOOD_ID].nunique().eq(4).all()
