"""Makers and their foods: names, tags, prices, nutrition and capacities.

Each maker has a kitchen (한식, 중식, ...) that fixes its ``e_service_type`` and the dishes it can
cook; each food is one of those dishes in a format with an optional modifier. Besides the rows of
the raw tables, the generator keeps numeric features (cuisine, main ingredient, spice level,
allergens, latent popularity) that the choice model needs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kurrant_core import codes
from kurrant_core.demo import catalog as cat
from kurrant_core.demo.scales import DemoScale

DINING_TYPES = (codes.BREAKFAST, codes.LUNCH, codes.DINNER)
INGREDIENTS = codes.TAG_CATEGORY_CODES[codes.MAIN_INGREDIENT]
CUISINES = codes.TAG_CATEGORY_CODES[codes.CUISINE]
ALLERGY_CODES = codes.TAG_CATEGORY_CODES[codes.ALLERGY]
SPICINESS_CODES = codes.TAG_CATEGORY_CODES[codes.SPICINESS]

_INGREDIENT_PREMIUM = {"소고기": 2000, "양고기": 2500, "오리고기": 1500, "해산물": 1500, "생선": 1000,
                       "유제품": 500, "채소": -500, "곡물": -500, "두부": -500}
_CUISINE_PREMIUM = {cat.SNACK: -1500, cat.JAPANESE: 500, cat.WESTERN: 500, cat.INDIAN: 1000}
_PROTEIN_G = {"소고기": 34, "돼지고기": 32, "닭고기": 36, "오리고기": 30, "양고기": 30, "생선": 30,
              "해산물": 26, "두부": 20, "달걀": 18, "채소": 10, "버섯": 11, "곡물": 12, "유제품": 18}


@dataclass
class Makers:
    """Maker rows plus what the menu planner needs (kitchen, dining types served)."""

    ids: np.ndarray
    names: list[str]
    kinds: list[str]
    service_type: np.ndarray
    service_form: np.ndarray
    serves: np.ndarray                  # bool (n_makers, 3): breakfast, lunch, dinner
    capacity: np.ndarray                # int (n_makers, 3)


@dataclass
class Foods:
    """Food rows plus the latent features the choice model reads (index = position, not id)."""

    ids: np.ndarray
    maker_pos: np.ndarray               # position of the food's maker in Makers
    names: list[str]
    descriptions: list[str]
    tags: list[str]                     # e_food_tags code strings
    price: np.ndarray
    supply_price: np.ndarray
    calorie: np.ndarray
    carbohydrate: np.ndarray
    fat: np.ndarray
    protein: np.ndarray
    cuisine: np.ndarray                 # FoodTag 1..7
    ingredient: np.ndarray              # index into INGREDIENTS
    spice: np.ndarray                   # 0..3
    allergy: np.ndarray                 # bool (n_foods, len(ALLERGY_CODES))
    quality: np.ndarray                 # latent popularity
    created: np.ndarray                 # datetime64[s]
    updated: np.ndarray
    stop_day: np.ndarray                # first day (datetime64[D]) it is no longer sold; NaT = never
    status: np.ndarray                  # FoodStatus


def build_makers(rng: np.random.Generator, scale: DemoScale) -> Makers:
    """Makers of every kitchen (each kitchen at least once), named like real lunch brands."""
    kinds = list(cat.MAKER_KINDS)
    share = np.array([cat.MAKER_KINDS[k][2] for k in kinds])
    first = list(rng.permutation(kinds))[: scale.n_makers]
    rest = rng.choice(kinds, size=scale.n_makers - len(first), p=share / share.sum()).tolist()
    maker_kinds = [str(k) for k in first + rest]
    used: dict[str, int] = {}
    names = []
    for kind in maker_kinds:
        stems = cat.MAKER_NAMES[kind]
        stem = stems[int(rng.integers(len(stems)))]
        n = used.get(stem, 0)
        used[stem] = n + 1
        names.append(stem if n == 0 else f"{stem} {cat.BRANCHES[(n - 1) % len(cat.BRANCHES)]}")
    m = scale.n_makers
    serves = np.zeros((m, 3), dtype=bool)
    serves[:, 1] = True
    serves[:, 0] = rng.random(m) < 0.35
    serves[:, 2] = rng.random(m) < 0.35
    for d in (0, 2):                     # at least two makers cook breakfast and dinner
        if serves[:, d].sum() < 2:
            serves[rng.choice(m, size=2, replace=False), d] = True
    capacity = np.stack([rng.integers(5, 21, m) * 10, rng.integers(10, 51, m) * 10,
                         rng.integers(5, 31, m) * 10], axis=1) * serves
    return Makers(ids=np.arange(1, m + 1), names=names, kinds=maker_kinds,
                  service_type=np.array([cat.MAKER_KINDS[k][0] for k in maker_kinds]),
                  service_form=rng.integers(0, 2, m), serves=serves, capacity=capacity)


def _dishes_for(kind: str) -> list[cat.Dish]:
    cuisines = cat.MAKER_KINDS[kind][1]
    dishes = [d for d in cat.DISHES if d.cuisine in cuisines]
    if kind == "샐러드":
        dishes = [d for d in dishes if d.kind in cat.LIGHT_KINDS]
    return dishes


def _allowed(mod: cat.Modifier, dish: cat.Dish) -> bool:
    if mod.only_cooking and dish.cooking not in mod.only_cooking:
        return False
    if mod.only_ingredient and dish.ingredient not in mod.only_ingredient:
        return False
    if mod.spice_delta > 0 and dish.spice >= 3 or mod.spice_delta < 0 and dish.spice == 0:
        return False
    return True


def _food_count_per_maker(rng: np.random.Generator, n_foods: int, n_makers: int) -> np.ndarray:
    base = min(3, n_foods // n_makers)
    extra = rng.multinomial(n_foods - base * n_makers, rng.dirichlet(np.full(n_makers, 3.0)))
    return base + extra


def build_foods(rng: np.random.Generator, scale: DemoScale, makers: Makers) -> Foods:
    """Foods for every maker: unique-ish names, consistent tags, prices in 500-won steps."""
    counts = _food_count_per_maker(rng, scale.n_foods, len(makers.ids))
    seen: set[str] = set()
    rows: list[dict] = []
    for pos, (kind, n) in enumerate(zip(makers.kinds, counts)):
        dishes = _dishes_for(kind)
        order = rng.permutation(len(dishes))
        for j in range(int(n)):
            dish = dishes[order[j % len(dishes)]]
            rows.append(_make_food(rng, dish, pos, seen))
    n = len(rows)
    ingredient = np.array([INGREDIENTS.index(cat.tag_code(codes.MAIN_INGREDIENT, r["ingredient"]))
                           for r in rows])
    allergy = np.zeros((n, len(ALLERGY_CODES)), dtype=bool)
    for i, r in enumerate(rows):
        for code in r["allergy_codes"]:
            allergy[i, ALLERGY_CODES.index(code)] = True
    start = np.datetime64(scale.start, "s")
    created = start - (rng.integers(3, 400, n) * 86400 + rng.integers(9 * 3600, 18 * 3600, n)).astype(
        "timedelta64[s]")
    n_days = (scale.end - scale.start).days
    stops = rng.random(n) < 0.05
    stop_day = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    stop_day[stops] = np.datetime64(scale.start, "D") + rng.integers(n_days // 3, n_days, stops.sum())
    updated = np.where(stops, stop_day.astype("datetime64[s]") + np.timedelta64(10 * 3600, "s"),
                       created + (rng.integers(0, 30, n) * 86400).astype("timedelta64[s]"))
    updated = np.minimum(updated, np.datetime64(scale.snapshot, "s"))
    price = np.array([r["price"] for r in rows])
    return Foods(
        ids=np.arange(1, n + 1), maker_pos=np.array([r["maker_pos"] for r in rows]),
        names=[r["name"] for r in rows], descriptions=[r["description"] for r in rows],
        tags=[r["tags"] for r in rows], price=price,
        supply_price=(price * rng.uniform(0.6, 0.75, n) / 100).round().astype(int) * 100,
        calorie=np.array([r["kcal"] for r in rows], dtype=float),
        carbohydrate=np.array([r["carb"] for r in rows], dtype=float),
        fat=np.array([r["fat"] for r in rows], dtype=float),
        protein=np.array([r["protein"] for r in rows], dtype=float),
        cuisine=np.array([r["cuisine"] for r in rows]), ingredient=ingredient,
        spice=np.array([r["spice"] for r in rows]), allergy=allergy,
        quality=rng.normal(0.0, 0.3, n), created=created, updated=updated, stop_day=stop_day,
        status=np.where(stops, 2, codes.FOOD_ON_SALE))


def _make_food(rng: np.random.Generator, dish: cat.Dish, maker_pos: int, seen: set[str]) -> dict:
    fmt_key = dish.formats[int(rng.integers(len(dish.formats)))]
    fmt = cat.FORMATS[fmt_key]
    mods = [m for m in cat.MODIFIERS if _allowed(m, dish) and m.word not in dish.name]
    mod = None
    name = fmt.pattern.format(dish.name)
    if name in seen or rng.random() < 0.35:
        for _ in range(8):
            mod = mods[int(rng.integers(len(mods)))]
            name = f"{mod.word} {fmt.pattern.format(dish.name)}"
            if name not in seen:
                break
    seen.add(name)
    spice = int(np.clip(dish.spice + (mod.spice_delta if mod else 0), 0, 3))
    kcal = int(round(dish.kcal + fmt.kcal_delta + rng.normal(0, 40), -1))
    price = (6500 + _INGREDIENT_PREMIUM.get(dish.ingredient, 0) + _CUISINE_PREMIUM.get(dish.cuisine, 0)
             + fmt.price_delta + (mod.price_delta if mod else 0) + rng.normal(0, 600))
    price = int(np.clip(round(price / 500) * 500, 5500, 15000))
    protein = max(5.0, round(_PROTEIN_G[dish.ingredient] * rng.uniform(0.8, 1.2) * kcal / 700, 1))
    fat = round(kcal * rng.uniform(0.22, 0.38) / 9 * (1.25 if dish.cooking == "튀김" else 1.0), 1)
    carb = max(10.0, round((kcal - 4 * protein - 9 * fat) / 4, 1))
    allergy_labels = set(dish.allergies)
    if dish.ingredient in cat.INGREDIENT_ALLERGY:
        allergy_labels.add(cat.INGREDIENT_ALLERGY[dish.ingredient])
    if mod and mod.allergy:
        allergy_labels.add(mod.allergy)
    allergy_codes = sorted(cat.tag_code(codes.ALLERGY, a) for a in allergy_labels)
    kind = fmt.kind or dish.kind
    tags = _tags(dish, kind, fmt, mod, spice, kcal, protein, price, allergy_codes)
    return {"maker_pos": maker_pos, "name": name, "ingredient": dish.ingredient, "cuisine": dish.cuisine,
            "spice": spice, "kcal": kcal, "protein": protein, "fat": fat, "carb": carb, "price": price,
            "allergy_codes": allergy_codes, "tags": codes.join_codes(tags),
            "description": _describe(dish, fmt, spice, kcal)}


def _temperature(dish: cat.Dish) -> str:
    if dish.kind in ("국/탕", "찌개/전골", "죽"):
        return "뜨거운"
    if dish.kind in ("샐러드", "포케") or dish.cooking == "생식" or dish.name.startswith("냉"):
        return "차가운"
    if dish.kind in ("김밥", "샌드위치"):
        return "상온"
    return "따뜻한"


def _characters(dish: cat.Dish, fmt: cat.Format, mod: cat.Modifier | None, spice: int, kcal: int,
                protein: float, price: int) -> list[str]:
    chars = []
    if fmt.food_type == "정찬도시락" or kcal >= 800:
        chars.append("든든한")
    if kcal < 500:
        chars.append("가벼운")
    if dish.kind in ("샐러드", "포케") or fmt.food_type in ("샐러드", "프로틴식"):
        chars.append("건강한")
    if spice >= 2:
        chars.append("자극적인")
    if protein >= 35:
        chars.append("고단백")
    if price <= 7000:
        chars.append("가성비")
    if dish.cuisine == cat.KOREAN and dish.kind in ("찌개/전골", "국/탕", "볶음", "조림"):
        chars.append("집밥")
    if dish.cuisine in (cat.SOUTHEAST_ASIAN, cat.INDIAN):
        chars.append("이색")
    if dish.name in ("삼계탕", "전복죽", "장어덮밥", "소갈비찜"):
        chars.append("보양")
    if fmt.food_type == "간편식":
        chars.append("간편한")
    if mod and mod.character:
        chars.append(mod.character)
    return list(dict.fromkeys(chars))[:4]


def _tags(dish: cat.Dish, kind: str, fmt: cat.Format, mod: cat.Modifier | None, spice: int, kcal: int,
          protein: float, price: int, allergy_codes: list[int]) -> list[int]:
    """The food's e_food_tags in category order; exactly one spiciness tag."""
    t = [dish.cuisine, cat.tag_code(codes.COUNTRY, dish.country), cat.tag_code(codes.FOOD_KIND, kind),
         cat.tag_code(codes.MAIN_INGREDIENT, dish.ingredient), cat.tag_code(codes.COOKING, dish.cooking),
         cat.tag_code(codes.TEMPERATURE, _temperature(dish))]
    t += [cat.tag_code(codes.TASTE, x) for x in dish.tastes]
    t += [cat.tag_code(codes.MENU_CHARACTER, x) for x in _characters(dish, fmt, mod, spice, kcal, protein,
                                                                     price)]
    t += allergy_codes
    animal = {cat.tag_code(codes.ALLERGY, a) for a in ("돼지고기", "쇠고기", "닭고기", "새우", "게", "오징어",
                                                       "고등어", "굴", "전복", "홍합")}
    diets = []
    if dish.ingredient not in cat.MEATS + ("생선", "해산물") and not animal & set(allergy_codes):
        diets.append("채식")
    if kcal < 450:
        diets.append("다이어트")
    if mod and mod.diet:
        diets.append(mod.diet)
    t += [cat.tag_code(codes.DIET, x) for x in diets]
    t.append(SPICINESS_CODES[spice])
    t.append(cat.tag_code(codes.FOOD_TYPE, fmt.food_type))
    return list(dict.fromkeys(t))


_SPICE_WORDS = ["맵지 않아 누구나 편하게 먹을 수 있는", "살짝 매콤한", "매콤한", "아주 매운"]


def _describe(dish: cat.Dish, fmt: cat.Format, spice: int, kcal: int) -> str:
    cuisine = codes.label(codes.FOOD_TAG, dish.cuisine)
    return (f"{dish.ingredient}{'을' if _has_final(dish.ingredient) else '를'} {dish.cooking} 방식으로 조리한 "
            f"{_SPICE_WORDS[spice]} {cuisine} {fmt.food_type}입니다. 약 {kcal}kcal.")


def _has_final(word: str) -> bool:
    """True when the last Hangul syllable has a final consonant (을 vs 를)."""
    last = word[-1]
    return "가" <= last <= "힣" and (ord(last) - ord("가")) % 28 != 0


def capacity_rows(makers: Makers, foods: Foods) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(food position, dining type, capacity) for each dining type the food's maker serves."""
    per_maker = np.bincount(foods.maker_pos, minlength=len(makers.ids))
    pos, dining, cap = [], [], []
    for d, dining_type in enumerate(DINING_TYPES):
        served = makers.serves[foods.maker_pos, d]
        idx = np.flatnonzero(served)
        pos.append(idx)
        dining.append(np.full(len(idx), dining_type))
        share = makers.capacity[foods.maker_pos[idx], d] / np.maximum(per_maker[foods.maker_pos[idx]], 1)
        cap.append(np.maximum(10, (share * 1.5 / 10).round().astype(int) * 10))
    order = np.lexsort((np.concatenate(dining), np.concatenate(pos)))
    return np.concatenate(pos)[order], np.concatenate(dining)[order], np.concatenate(cap)[order]
