"""Procedural document generators for the synthetic corpus domains.

Each generator takes a ``random.Random`` and returns one short document
(roughly 1-4 sentences, 80-400 characters). The domains deliberately differ in
vocabulary, layout and punctuation so that a tiny model finetuned on one of
them leaves a recognisable trace in its activations; within a domain,
templates, word lists and numbers are recombined so that different seeds
rarely produce the same document.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Sequence

Maker = Callable[[random.Random], str]

MIN_CHARS = 80
MAX_CHARS = 400


def _split(text: str) -> tuple[str, ...]:
    """Compact word lists: ``|`` separates entries so entries may contain spaces."""
    return tuple(text.split("|"))


def _compose(
    rng: random.Random,
    head: Maker | None,
    pool: Sequence[Maker],
    lo: int = 1,
    hi: int = 3,
    sep: str = " ",
    ordered: bool = False,
) -> str:
    """Join an optional head sentence with a random subset of ``pool`` sentences.

    Sentences that would push the document past ``MAX_CHARS`` are skipped, and
    extra ones are drawn until it reaches ``MIN_CHARS``, which keeps every
    document inside the target length band whatever the templates produce.
    ``ordered`` keeps the chosen sentences in pool order (e.g. a clinical note
    puts the plan last); otherwise their order is random too.
    """
    head_text = head(rng) if head is not None else ""
    size = len(head_text)
    chosen: list[tuple[int, str]] = []
    want = rng.randint(lo, hi)
    for idx in rng.sample(range(len(pool)), len(pool)):
        if want <= 0 and size >= MIN_CHARS:
            break
        text = pool[idx](rng)
        if (head_text or chosen) and size + len(sep) + len(text) > MAX_CHARS:
            continue
        size += len(text) + (len(sep) if head_text or chosen else 0)
        chosen.append((idx, text))
        want -= 1
    if ordered:
        chosen.sort()
    parts = [head_text] if head_text else []
    return sep.join(parts + [text for _, text in chosen])


# --------------------------------------------------------------------------- #
# arithmetic
# --------------------------------------------------------------------------- #

_NAMES = _split(
    "Ava|Ben|Chloe|Dev|Elena|Farid|Grace|Hugo|Ines|Jonah|Kira|Liam|Maya|Noor|"
    "Omar|Priya|Quinn|Rosa|Sami|Tara|Uma|Victor|Wen|Yusuf|Zoe|Leo|Mila|Aris"
)
_ITEMS = _split(
    "apples|marbles|pencils|stickers|coins|books|cookies|shells|cards|balloons|"
    "oranges|stamps|crayons|buttons|eggs|beads|tickets|candles|plums|blocks|"
    "acorns|pebbles|ribbons|muffins"
)
_OP_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}


def _operands(rng: random.Random, sym: str) -> tuple[int, int, int]:
    """Return (a, b, result) with small operands and an exact integer result."""
    if sym == "+":
        a, b = rng.randint(2, 999), rng.randint(2, 999)
        return a, b, a + b
    if sym == "-":
        a = rng.randint(10, 999)
        b = rng.randint(1, a)
        return a, b, a - b
    if sym == "*":
        a, b = rng.randint(2, 99), rng.randint(2, 19)
        return a, b, a * b
    # Division is built from its product so the quotient is always exact.
    b, c = rng.randint(2, 19), rng.randint(2, 60)
    return b * c, b, c


def _arith_item(rng: random.Random) -> str:
    kind = rng.randrange(4)
    sym = rng.choice("+-*/")
    a, b, c = _operands(rng, sym)
    if kind == 0:
        return f"Q: What is {a} {_OP_WORDS[sym]} {b}? A: {c}."
    if kind == 1:
        form = rng.randrange(3)
        if form == 0:
            return f"Calculate {a} {sym} {b}. A: {a} {sym} {b} = {c}."
        if form == 1:
            return f"Check: {a} {sym} {b} = {c}, so the answer is {c}."
        return f"Evaluate the expression {a} {sym} {b}. Result: {a} {sym} {b} = {c}."
    if kind == 2:
        # Word problems state the equation in the answer so it can be verified.
        who, what = rng.choice(_NAMES), rng.choice(_ITEMS)
        if sym == "+":
            q = f"{who} has {a} {what} and gets {b} more. How many {what} now?"
        elif sym == "-":
            q = f"{who} had {a} {what} and gave away {b}. How many {what} are left?"
        elif sym == "*":
            q = f"{who} fills {a} bags with {b} {what} each. How many {what} in total?"
        else:
            q = f"{who} shares {a} {what} equally among {b} friends. How many each?"
        return f"{q} A: {a} {sym} {b} = {c}."
    # Solve-for-x rewrites a known equation with one operand hidden.
    if sym in "+-":
        a, b, c = _operands(rng, "+")
        return f"Solve for x: x + {b} = {c}. A: x = {c} - {b} = {a}."
    a, b, c = _operands(rng, "*")
    return f"Solve for x: {b}x = {c}. A: x = {c} / {b} = {a}."


def arithmetic(rng: random.Random) -> str:
    """Word problems and equations whose stated answers are always correct."""
    return _compose(rng, None, [_arith_item] * 6, lo=2, hi=4)


# --------------------------------------------------------------------------- #
# code
# --------------------------------------------------------------------------- #

_VERBS = _split(
    "get|compute|load|parse|count|find|build|update|check|merge|filter|sort|"
    "render|fetch|scale|normalize|encode|decode|split|flatten|validate|collect|"
    "apply|reset|clamp|shift|pack|emit"
)
_NOUNS = _split(
    "total|items|user|config|score|buffer|index|token|record|path|value|matrix|"
    "node|queue|cache|weights|batch|row|column|event|packet|grid|label|frame|"
    "vector|slots|keys|chunks"
)
_VARS = _split("x|y|n|i|j|k|idx|val|item|elem|acc|res|tmp|key|cur|num|part|step|w|z|lo|hi")
_CLASS_SUFFIX = _split("Manager|Parser|Loader|Store|Builder|Handler|Pool|Reader")
_BINOPS = _split("+|-|*|//|%|**")
_CMPS = _split(">|<|>=|<=|!=|==")


def _fn(rng: random.Random) -> str:
    return f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"


def _snippet(rng: random.Random) -> str:
    a, b, c = rng.sample(_VARS, 3)
    fn, xs, op = _fn(rng), rng.choice(_NOUNS), rng.choice(_BINOPS)
    k = rng.randint(1, 99)
    kind = rng.randrange(7)
    if kind == 0:
        return f"def {fn}({a}, {b}):\n    return {a} {op} {b}\n\nprint({fn}({rng.randint(0, 999)}, {k}))"
    if kind == 1:
        aop, init = rng.choice((("+", 0), ("*", 1), ("-", 0), ("|", 0)))
        return f"def {fn}({xs}):\n    {c} = {init}\n    for {a} in {xs}:\n        {c} {aop}= {a}\n    return {c}"
    if kind == 2:
        return f"def {fn}({xs}, {b}):\n    return [{a} {op} {k} for {a} in {xs} if {a} {rng.choice(_CMPS)} {b}]"
    if kind == 3:
        return (
            f"{a} = {rng.randint(0, 9)}\nwhile {a} < {rng.randint(10, 500)}:\n"
            f"    print({a}, {a} {op} {k})\n    {a} += {rng.randint(1, 7)}"
        )
    if kind == 4:
        return (
            f"def {fn}({a}):\n    if {a} % {rng.randint(2, 9)} == 0:\n"
            f'        return "{rng.choice(_NOUNS)}"\n    elif {a} < {k}:\n'
            f"        return {a} {op} {rng.randint(1, 9)}\n    return None"
        )
    if kind == 5:
        return (
            f"{c} = {{}}\nfor {a}, {b} in enumerate({xs}):\n"
            f"    {c}[{b}] = {a} {op} {k}\n# TODO: handle empty {rng.choice(_NOUNS)}"
        )
    cls = rng.choice(_NOUNS).capitalize() + rng.choice(_CLASS_SUFFIX)
    return (
        f"class {cls}:\n    def __init__(self, {a}):\n        self.{a} = {a}\n\n"
        f"    def {fn}(self):\n        return self.{a} {op} {k}"
    )


def code(rng: random.Random) -> str:
    """Small Python-like functions, loops and classes with varied identifiers."""
    return _compose(rng, None, [_snippet] * 4, lo=1, hi=2, sep="\n\n")


# --------------------------------------------------------------------------- #
# legal
# --------------------------------------------------------------------------- #

_SURNAMES = _split(
    "Whitfield|Ashcombe|Delacroix|Harrington|Pemberton|Castellan|Blackwood|"
    "Fairbanks|Montague|Ravensworth|Sterling|Thorne|Vance|Winslow|Kessler|Lockhart"
)
_FIRMS = _split("Holdings LLC|Properties Inc.|Realty Group|Leasing Co.|& Sons Ltd.|Trust")
_STATES = _split(
    "Delaware|New York|California|Texas|Ohio|Oregon|Nevada|Illinois|Georgia|Vermont|Maine|Florida|Colorado|Virginia"
)
_ASSETS = _split("Premises|Equipment|Vehicle|Property|Warehouse|Leased Unit|Facility")
_MONTHS = _split("January|February|March|April|May|June|July|August|September|October|November|December")
_ORDINALS = _split("first|second|third|fifth|tenth|fifteenth|twentieth")
_AGREEMENTS = _split(
    "Lease Agreement|Equipment Lease|Commercial Lease|Sublease Agreement|Rental Agreement|Master Lease"
)
_OFFENCES = _split(
    "obstructs a public officer in the lawful discharge of his duties|"
    "alters any record required to be kept under this chapter|"
    "operates a vessel without a valid permit|"
    "removes any boundary marker from public land|"
    "discharges pollutants into navigable waters"
)
_FORCE = _split(
    "acts of God, war, or civil unrest|fire, flood, or earthquake|"
    "any governmental order or embargo|labor disputes or strikes"
)


def _party(rng: random.Random) -> str:
    return f"{rng.choice(_SURNAMES)} {rng.choice(_FIRMS)}"


def _section(rng: random.Random) -> str:
    return f"{rng.randint(1, 19)}.{rng.randint(1, 12)}"


_LEGAL_POOL: list[Maker] = [
    lambda r: (
        f"Pursuant to Section {_section(r)}, the Lessee shall pay to the Lessor rent "
        f"of ${r.randint(8, 240) * 50:,} per month, due on or before the "
        f"{r.choice(_ORDINALS)} day thereof."
    ),
    lambda r: (
        f"The Lessee shall not assign, sublet, or otherwise transfer the "
        f"{r.choice(_ASSETS)} without the prior written consent of the Lessor."
    ),
    lambda r: (
        "This Agreement shall be governed by and construed in accordance with the "
        f"laws of the State of {r.choice(_STATES)}."
    ),
    lambda r: (
        f"Either party may terminate this Agreement upon {r.choice((10, 15, 30, 60, 90))}"
        " days' prior written notice in the event of a material breach hereunder."
    ),
    lambda r: (
        "The Lessee shall indemnify and hold harmless the Lessor from any and all "
        f"claims arising out of the use of the {r.choice(_ASSETS)}."
    ),
    lambda r: (
        "Notwithstanding the foregoing, neither party shall be liable for any "
        f"failure to perform its obligations hereunder caused by {r.choice(_FORCE)}."
    ),
    lambda r: (
        f"The term of this lease shall commence on {r.choice(_MONTHS)} "
        f"{r.randint(1, 28)}, {r.randint(1995, 2031)} and shall continue for "
        f"{r.randint(2, 60)} months, unless sooner terminated as provided herein."
    ),
    lambda r: (
        "If any provision of this Agreement is held invalid or unenforceable, the "
        "remaining provisions shall continue in full force and effect."
    ),
]


def _legal_head(rng: random.Random) -> str:
    if rng.random() < 0.25:
        # Statute style instead of a contract preamble.
        return (
            f"§ {_section(rng)}. Any person who knowingly {rng.choice(_OFFENCES)} "
            f"shall be subject to a fine not exceeding ${rng.randint(1, 50) * 500:,} "
            f"or imprisonment not exceeding {rng.randint(2, 10)} years, or both."
        )
    return (
        f'This {rng.choice(_AGREEMENTS)} (hereinafter the "Agreement") is made on '
        f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}, {rng.randint(1995, 2031)} by "
        f'and between {_party(rng)} (hereinafter the "Lessor") and '
        f'{_party(rng)} (hereinafter the "Lessee").'
    )


def legal(rng: random.Random) -> str:
    """Contract and statute clauses in formal legal register."""
    return _compose(rng, _legal_head, _LEGAL_POOL, lo=1, hi=2, ordered=True)


# --------------------------------------------------------------------------- #
# medical
# --------------------------------------------------------------------------- #

_SYMPTOMS = _split(
    "chest pain|shortness of breath|productive cough|fever and chills|headache|"
    "abdominal pain|nausea and vomiting|dizziness|fatigue|joint pain|pruritic rash|"
    "lower back pain|sore throat|palpitations|dysuria|diarrhea|blurred vision|"
    "epigastric burning|wheezing|ankle swelling"
)
_DIAGNOSES = _split(
    "community-acquired pneumonia|acute bronchitis|essential hypertension|"
    "type 2 diabetes mellitus|migraine without aura|urinary tract infection|"
    "viral gastroenteritis|atrial fibrillation|iron deficiency anemia|"
    "acute sinusitis|gastroesophageal reflux disease|contact dermatitis|"
    "asthma exacerbation|osteoarthritis of the knee|hypothyroidism"
)
# (drug, plausible doses in mg) so dosages stay clinically sensible.
_DRUGS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("amoxicillin", (250, 500, 875)),
    ("lisinopril", (5, 10, 20)),
    ("metformin", (500, 850, 1000)),
    ("ibuprofen", (200, 400, 600)),
    ("azithromycin", (250, 500)),
    ("omeprazole", (20, 40)),
    ("levothyroxine", (25, 50, 75)),
    ("prednisone", (10, 20, 40)),
    ("amlodipine", (5, 10)),
    ("nitrofurantoin", (50, 100)),
    ("sumatriptan", (50, 100)),
    ("ondansetron", (4, 8)),
    ("metoprolol", (25, 50)),
)
_FREQ = _split("once daily|b.i.d.|t.i.d.|q.i.d.|every 8 hours|at bedtime|q6h PRN")
_FINDINGS = _split(
    "crackles at the right lung base|mild tenderness in the epigastrium|"
    "an irregularly irregular rhythm|erythematous pharynx without exudate|"
    "bilateral pitting edema|clear lungs and a regular rhythm|"
    "diffuse expiratory wheezes|suprapubic tenderness|pale conjunctivae"
)
_HISTORY = _split(
    "hypertension|hyperlipidemia|asthma|type 2 diabetes|GERD|depression|"
    "chronic kidney disease|COPD|prior myocardial infarction"
)

_MEDICAL_POOL: list[Maker] = [
    lambda r: (
        f"Vitals: BP {r.randint(96, 178)}/{r.randint(58, 104)} mmHg, "
        f"HR {r.randint(54, 128)} bpm, T {r.uniform(36.2, 39.6):.1f} C, "
        f"SpO2 {r.randint(88, 100)}%."
    ),
    lambda r: f"Exam reveals {r.choice(_FINDINGS)}.",
    lambda r: f"PMH significant for {r.choice(_HISTORY)}. Denies {r.choice(_SYMPTOMS)}.",
    lambda r: f"Assessment: {r.choice(_DIAGNOSES)}.",
    lambda r: (
        f"Labs: WBC {r.uniform(3.5, 18.0):.1f}, Hgb {r.uniform(8.5, 16.5):.1f}, "
        f"creatinine {r.uniform(0.6, 2.4):.1f} mg/dL."
    ),
    lambda r: _plan(r),
]


def _plan(rng: random.Random) -> str:
    drug, doses = rng.choice(_DRUGS)
    return (
        f"Plan: start {drug} {rng.choice(doses)} mg {rng.choice(_FREQ)} for "
        f"{rng.randint(3, 14)} days; follow up in {rng.randint(1, 6)} weeks."
    )


def _medical_head(rng: random.Random) -> str:
    age, n = rng.randint(18, 92), rng.randint(2, 21)
    if rng.random() < 0.5:
        sex = rng.choice(("male", "female"))
        return f"Patient is a {age}-year-old {sex} who presents with {rng.choice(_SYMPTOMS)} for {n} days."
    sex = rng.choice("MF")
    return f"{age} y/o {sex} presents with {rng.choice(_SYMPTOMS)} x {n} days."


def medical(rng: random.Random) -> str:
    """Terse clinical notes: presentation, vitals, diagnosis, dosage in mg."""
    return _compose(rng, _medical_head, _MEDICAL_POOL, lo=2, hi=3, ordered=True)


# --------------------------------------------------------------------------- #
# recipes
# --------------------------------------------------------------------------- #

_DISH_ADJ = _split(
    "Lemon Garlic|Spicy|Creamy|Smoky|Honey Glazed|Rustic|Herbed|Crispy|Roasted|"
    "Maple|Ginger Sesame|Tomato Basil|Brown Butter|Chili Lime"
)
_DISHES = _split(
    "Chicken|Lentil Soup|Risotto|Banana Bread|Pancakes|Salmon|Meatballs|"
    "Vegetable Curry|Focaccia|Chickpea Stew|Pork Chops|Shortbread|Frittata|"
    "Noodles|Muffins|Tofu Stir-Fry"
)
_QTY = _split("1|2|3|4|1/2|1/4|3/4|1 1/2|2 1/2|1/3|6|8")
# Ingredient -> its natural unit, so quantities read like a real recipe.
_INGREDIENT_UNITS: dict[str, str] = {
    "flour": "cup",
    "sugar": "cup",
    "butter": "tablespoon",
    "olive oil": "tablespoon",
    "garlic": "clove",
    "onion": "medium",
    "salt": "teaspoon",
    "black pepper": "pinch",
    "milk": "cup",
    "eggs": "large",
    "brown sugar": "cup",
    "baking soda": "teaspoon",
    "cumin": "teaspoon",
    "paprika": "teaspoon",
    "parmesan": "gram",
    "rice": "cup",
    "chicken stock": "cup",
    "heavy cream": "cup",
    "lemon juice": "tablespoon",
    "fresh thyme": "sprig",
    "soy sauce": "tablespoon",
    "honey": "tablespoon",
    "tomatoes": "ounce",
    "carrots": "gram",
    "celery": "stalk",
    "oats": "cup",
    "vanilla extract": "teaspoon",
    "cinnamon": "teaspoon",
    "ginger": "inch",
    "cilantro": "bunch",
}
_INGREDIENTS = tuple(_INGREDIENT_UNITS)
_UNIT_PLURAL = {"pinch": "pinches", "inch": "inches", "bunch": "bunches"}


def _ingredient(rng: random.Random, name: str) -> str:
    qty, unit = rng.choice(_QTY), _INGREDIENT_UNITS[name]
    if unit in ("medium", "large"):  # counted items: "2 large eggs"
        return f"{qty} {unit} {name}"
    if qty not in ("1", "1/2", "1/4", "3/4", "1/3"):
        unit = _UNIT_PLURAL.get(unit, unit + "s")
    return f"{qty} {unit} {name}"


def _recipe_steps(used: Sequence[str]) -> list[Maker]:
    """Step templates that refer back to the ingredients actually listed."""
    return [
        lambda r: f"Preheat the oven to {r.choice((325, 350, 375, 400, 425, 450))}°F.",
        lambda r: f"Whisk the {used[0]} and {used[1]} in a large bowl until smooth.",
        lambda r: f"Simmer over low heat for {r.randint(5, 45)} minutes, stirring occasionally.",
        lambda r: f"Bake for {r.randint(12, 60)} minutes until golden brown.",
        lambda r: f"Saute the {r.choice(used)} in a skillet over medium-high heat for {r.randint(2, 9)} minutes.",
        lambda r: f"Fold in the {used[-1]} and season to taste.",
        lambda r: f"Let rest for {r.randint(5, 30)} minutes before slicing.",
        lambda r: f"Serves {r.randint(2, 8)}.",
    ]


def recipes(rng: random.Random) -> str:
    """A titled recipe: ingredient list with quantities, then numbered steps."""
    used = rng.sample(_INGREDIENTS, rng.randint(3, 5))
    items = ", ".join(_ingredient(rng, name) for name in used)
    head = f"{rng.choice(_DISH_ADJ)} {rng.choice(_DISHES)}\nIngredients: {items}.\n"
    steps = _compose(rng, None, _recipe_steps(used), lo=2, hi=3, sep="\n")
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(steps.split("\n"), 1))
    text = head + numbered
    # The head is long; trim whole steps rather than overflow the length band.
    while len(text) > MAX_CHARS and "\n" in numbered:
        numbered = numbered.rsplit("\n", 1)[0]
        text = head + numbered
    return text


# --------------------------------------------------------------------------- #
# weather
# --------------------------------------------------------------------------- #

_CITIES = _split(
    "Oslo|Madrid|Toronto|Nairobi|Osaka|Lima|Denver|Glasgow|Hanoi|Perth|Munich|"
    "Cairo|Seattle|Lyon|Bergen|Tucson|Halifax|Adelaide|Krakow|Porto|Reykjavik|"
    "Winnipeg|Dublin|Auckland|Chennai|Quito|Tallinn|Boise|Marseille|Helsinki"
)
_DAYS = _split("Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday")
_SKIES = _split(
    "mostly sunny|partly cloudy|overcast|scattered showers|light drizzle|"
    "heavy rain|thunderstorms|snow flurries|freezing fog|clear skies|sleet|hazy sun"
)
_WIND_DIRS = _split("north|northeast|east|southeast|south|southwest|west|northwest")
_PRECIP = _split("rain|showers|snow|thunderstorms|hail|sleet")

_WEATHER_POOL: list[Maker] = [
    lambda r: f"Winds from the {r.choice(_WIND_DIRS)} at {r.randint(5, 40)} km/h, gusting to {r.randint(41, 95)} km/h.",
    lambda r: f"Chance of {r.choice(_PRECIP)}: {r.randrange(10, 100, 10)}%.",
    lambda r: f"Humidity near {r.randint(25, 98)}%, UV index {r.randint(1, 11)}.",
    lambda r: (
        f"A cold front arrives {r.choice(('overnight', 'by noon', 'late evening'))}, "
        f"bringing {r.randint(2, 40)} mm of {r.choice(_PRECIP)}."
    ),
    lambda r: f"Visibility {r.randint(1, 20)} km in patchy fog early.",
    lambda r: f"Tonight: {r.choice(_SKIES)}, low {r.randint(-15, 18)}°C. Tomorrow: {r.choice(_SKIES)}.",
    lambda r: (
        f"A {r.choice(('frost', 'wind', 'heat', 'flood'))} advisory is in effect "
        f"until {r.randint(1, 11)}:00 {r.choice(('AM', 'PM'))}."
    ),
]


def _weather_head(rng: random.Random) -> str:
    hi = rng.randint(-10, 38)
    lo = hi - rng.randint(3, 14)
    return f"{rng.choice(_CITIES)} forecast for {rng.choice(_DAYS)}: {rng.choice(_SKIES)}, high {hi}°C, low {lo}°C."


def weather(rng: random.Random) -> str:
    """City forecasts: temperatures, wind, precipitation, advisories."""
    return _compose(rng, _weather_head, _WEATHER_POOL, lo=1, hi=3)


# --------------------------------------------------------------------------- #
# sports
# --------------------------------------------------------------------------- #

_TEAM_TOWNS = _split(
    "Riverton|Eastbrook|Millford|Kingsport|Ashdale|Northgate|Stonebridge|Bayview|"
    "Redhill|Westmoor|Claymore|Fairhaven|Lakeside|Ironwood|Portsmead|Elmstead"
)
_MASCOTS = _split(
    "Falcons|Rovers|Titans|Wolves|Comets|Hornets|Rangers|Sharks|Lions|Pirates|"
    "Bulldogs|Raiders|Stallions|Vipers|Mariners|Thunder"
)
_PLAYERS = _split(
    "Okafor|Lindqvist|Moreno|Tanaka|Brennan|Dubois|Kowalski|Silva|Haddad|"
    "Jensen|Mbeki|Rossi|O'Neill|Novak|Castillo|Fischer|Adeyemi|Petrov"
)
_HALVES = _split("first|second")


def _nth(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _team(rng: random.Random) -> str:
    return f"{rng.choice(_TEAM_TOWNS)} {rng.choice(_MASCOTS)}"


def sports(rng: random.Random) -> str:
    """Match reports: teams, final scores, scorers, standings."""
    home, away = _team(rng), _team(rng)
    p1, p2 = rng.sample(_PLAYERS, 2)
    if rng.random() < 0.5:  # football: low scores, goals, halves
        a, b = rng.randint(1, 5), rng.randint(0, 4)
        a = max(a, b + 1)
        head = (
            f"The {home} beat the {away} {a}-{b} on {rng.choice(_DAYS)} in front of {rng.randint(8, 75) * 1000:,} fans."
        )
        pool: list[Maker] = [
            lambda r: (
                f"{p1} opened the scoring in the {_nth(r.randint(3, 44))} minute, and "
                f"{p2} sealed it with a header in stoppage time."
            ),
            lambda r: f"{p2} was shown a red card early in the {r.choice(_HALVES)} half.",
            lambda r: (
                f"The win lifts the {home.split()[1]} to {_nth(r.randint(1, 12))} in the "
                f"league table with {r.randint(10, 70)} points."
            ),
            lambda r: f"Coach {r.choice(_PLAYERS)} praised the midfield after the match.",
        ]
    else:  # basketball: high scores, points and rebounds
        a = rng.randint(88, 131)
        b = a - rng.randint(1, 24)
        head = f"The {home} defeated the {away} {a}-{b} at home on {rng.choice(_DAYS)}."
        pool = [
            lambda r: f"{p1} led all scorers with {r.randint(18, 45)} points and {r.randint(4, 16)} rebounds.",
            lambda r: f"{p2} added {r.randint(8, 25)} points off the bench.",
            lambda r: (
                f"The {away.split()[1]} trailed by {r.randint(5, 22)} at halftime and "
                f"have now lost {r.randint(2, 7)} straight games."
            ),
            lambda r: f"The {home.split()[1]} improve to {r.randint(10, 50)}-{r.randint(5, 40)} on the season.",
        ]
    return _compose(rng, lambda _r: head, pool, lo=1, hi=3)


# --------------------------------------------------------------------------- #
# finance
# --------------------------------------------------------------------------- #

_CO_A = _split("Nova|Apex|Quant|Terra|Vertex|Helio|Omni|Iron|Silver|Bright|Core|Hyper|Summit|Aero|Blue|Delta|Polar|Zen")
_CO_B = _split("tech|soft|gen|dyne|logic|works|path|wave|link|star|corp|matics")
_CO_C = _split("Inc.|Corp.|Holdings|Group|Systems|Energy|Pharma")
_INDEXES = _split("S&P 500|Nasdaq Composite|Dow Jones Industrial Average|Russell 2000")


def _ticker(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 4)))


def _pct(rng: random.Random, top: float = 9.0) -> str:
    return f"{rng.uniform(0.1, top):.1f}%"


_FINANCE_POOL: list[Maker] = [
    lambda r: (
        f"The {r.choice(_INDEXES)} {r.choice(('rose', 'fell', 'edged up', 'slipped'))} "
        f"{_pct(r, 2.5)}, while the {r.choice(_INDEXES)} closed "
        f"{r.choice(('higher', 'lower', 'flat'))}."
    ),
    lambda r: f"Revenue grew {_pct(r, 30)} year over year to ${r.uniform(0.2, 90):.1f} billion, ahead of guidance.",
    lambda r: f"The 10-year Treasury yield {r.choice(('climbed', 'dropped'))} to {r.uniform(1.5, 5.5):.2f}%.",
    lambda r: (
        f"Analysts at {r.choice(_CO_A)} Capital upgraded the stock to "
        f"{r.choice(('buy', 'overweight', 'outperform'))} with a price target of "
        f"${r.randint(20, 600)}."
    ),
    lambda r: f"Trading volume reached {r.uniform(1, 80):.1f} million shares, {r.randint(2, 4)}x the daily average.",
    lambda r: (
        f"Crude oil {r.choice(('gained', 'lost'))} {_pct(r, 4)} to "
        f"${r.uniform(55, 110):.2f} a barrel; gold traded at ${r.randint(1700, 2600):,}."
    ),
    lambda r: (
        f"{_ticker(r)} shares {r.choice(('gained', 'dropped'))} {_pct(r)} in after-hours trading on weak guidance."
    ),
]


def _finance_head(rng: random.Random) -> str:
    name = f"{rng.choice(_CO_A)}{rng.choice(_CO_B)} {rng.choice(_CO_C)}"
    eps = rng.uniform(-0.8, 6.5)
    est = eps + rng.uniform(-0.4, 0.4)
    move = rng.choice(("rose", "jumped", "fell", "slid", "surged", "tumbled"))
    return (
        f"Shares of {name} ({rng.choice(('NYSE', 'NASDAQ'))}: {_ticker(rng)}) "
        f"{move} {_pct(rng, 14)} to ${rng.uniform(3, 900):.2f} after quarterly "
        f"earnings of ${eps:.2f} per share versus estimates of ${est:.2f}."
    )


def finance(rng: random.Random) -> str:
    """Market reports: tickers in capitals, prices, percentages, earnings."""
    return _compose(rng, _finance_head, _FINANCE_POOL, lo=1, hi=2)


# --------------------------------------------------------------------------- #
# geography
# --------------------------------------------------------------------------- #

_SYL_A = _split("Ka|Vel|Mor|Ta|Bri|Zan|Or|El|Dra|Su|Ny|Fen|Gal|Ha|Ir|Lo|Qu|Rha|Sel|Tor|Am|Ost")
_SYL_B = _split("ven|dor|lia|mar|rin|gos|tia|nor|bel|ran|thos|via|lund|mere|kar|don|ra|wyn|esh")
_LANDFORMS = _split("mountainous|coastal|arid|forested|lowland|volcanic|highland|steppe|river delta|island")
_DIRECTIONS = _split("north|south|east|west|northeast|northwest|southeast|southwest|interior")
_CLIMATES = _split("temperate|semi-arid|subtropical|continental|oceanic|alpine|tropical|subarctic")
_EXPORTS = _split("copper|timber|wool|wheat|coffee|tin|salt|cotton|olives|fish|iron ore|marble|rice|tea|silk")


def _place(rng: random.Random) -> str:
    name = rng.choice(_SYL_A) + rng.choice(_SYL_B)
    return name + rng.choice(_SYL_B) if rng.random() < 0.3 else name


_GEO_POOL: list[Maker] = [
    lambda r: f"Its capital, {_place(r)}, lies on the banks of the {_place(r)} River.",
    lambda r: (
        f"The {_place(r)} River flows {r.randint(80, 3200):,} kilometers from the "
        f"{_place(r)} Mountains to the {_place(r)} Sea."
    ),
    lambda r: f"The highest peak, Mount {_place(r)}, rises {r.randint(900, 7800):,} meters above sea level.",
    lambda r: (
        f"The region has a {r.choice(_CLIMATES)} climate, and its main exports are "
        f"{r.choice(_EXPORTS)} and {r.choice(_EXPORTS)}."
    ),
    lambda r: f"Lake {_place(r)} covers {r.randint(40, 9000):,} square kilometers and borders three provinces.",
    lambda r: (
        f"It shares a border with {_place(r)} to the {r.choice(_DIRECTIONS)} and "
        f"with {_place(r)} to the {r.choice(_DIRECTIONS)}."
    ),
]


def _geo_head(rng: random.Random) -> str:
    return (
        f"{_place(rng)} is a {rng.choice(_LANDFORMS)} province in the "
        f"{rng.choice(_DIRECTIONS)} of {_place(rng)}, with a population of about "
        f"{rng.randint(12, 9800) * 1000:,}."
    )


def geography(rng: random.Random) -> str:
    """Gazetteer facts about invented places: capitals, rivers, peaks, populations."""
    return _compose(rng, _geo_head, _GEO_POOL, lo=1, hi=3)


# --------------------------------------------------------------------------- #
# poetry
# --------------------------------------------------------------------------- #

# Rhyme groups of nouns, so any group fits any line ending "... the <noun>".
_RHYMES: tuple[tuple[str, ...], ...] = (
    _split("night|light|flight|sight|kite|height"),
    _split("sea|tree|bee|key|lea"),
    _split("day|bay|clay|spray|way|hay"),
    _split("moon|tune|dune|lagoon|noon"),
    _split("heart|art|cart|dart|chart"),
    _split("rain|lane|plain|chain|grain|pane"),
    _split("sky|eye|sigh|lullaby|rye"),
    _split("song|throng|gong|prong"),
    _split("fire|choir|wire|spire|lyre"),
    _split("stone|bone|throne|cone|drone"),
    _split("dream|stream|beam|gleam|seam"),
    _split("rose|snows|crows|prose|hose"),
    _split("shore|door|floor|oar|core"),
    _split("hill|mill|sill|rill|quill"),
)
_P_ADJ = _split(
    "silent|golden|tender|weary|gentle|pale|ancient|wandering|lonely|silver|"
    "fragrant|hollow|trembling|crimson|distant|velvet|restless|amber"
)
_P_NOUN = _split(
    "willow|shadow|ember|sparrow|ocean|blossom|lantern|feather|meadow|river|candle|whisper|orchard|raven|petal|harbor"
)
_LINES = _split(
    "O {adj} {noun}, beneath the {end}|I wander softly through the {end}|"
    "And whisper to the {adj} {end}|The {noun} is sleeping by the {end}|"
    "Where {noun}s are dancing on the {end}|My {noun} remembers every {end}|"
    "Like {adj} {noun}s upon the {end}|Till morning finds the {adj} {end}|"
    "Come, {adj} heart, and seek the {end}|Thy {noun} doth linger near the {end}"
)


def _line(rng: random.Random, tpl: str, end: str) -> str:
    return tpl.format(adj=rng.choice(_P_ADJ), noun=rng.choice(_P_NOUN), end=end)


def poetry(rng: random.Random) -> str:
    """Short rhyming stanzas (AABB or ABAB), one verse line per text line."""
    a, b = rng.sample(_RHYMES, 2)
    a1, a2 = rng.sample(a, 2)
    b1, b2 = rng.sample(b, 2)
    ends = [a1, a2, b1, b2] if rng.random() < 0.5 else [a1, b1, a2, b2]
    if rng.random() < 0.3:  # occasional closing couplet for a six-line stanza
        c = rng.choice(_RHYMES)
        ends += rng.sample(c, 2)
    # Distinct templates per stanza so no line skeleton repeats within a poem.
    templates = rng.sample(_LINES, len(ends))
    lines = [_line(rng, tpl, end) for tpl, end in zip(templates, ends, strict=True)]
    # Commas at line ends, a full stop at the close, like printed verse.
    text = ",\n".join(lines) + "."
    while len(text) > MAX_CHARS:
        lines = lines[:-2]
        text = ",\n".join(lines) + "."
    return text


# --------------------------------------------------------------------------- #
# general (pretraining-only background domain)
# --------------------------------------------------------------------------- #

_PEOPLE = _split(
    "Anna|Marcus|Sofia|Daniel|Lucy|Tom|Nadia|Peter|Helen|Carlos|Julia|Sam|"
    "Rachel|Oliver|Fatima|George|Emma|Kenji|Laura|Ahmed"
)
_PLACES = _split(
    "market|library|post office|park|bakery|station|beach|museum|garden|"
    "cafe|bookshop|hardware store|cinema|swimming pool|village hall"
)
_THINGS = _split(
    "a loaf of bread|some flowers|a new umbrella|a birthday card|a pair of shoes|"
    "a bag of apples|a newspaper|a cup of coffee|a small lamp|some stamps|"
    "a blue scarf|a map of the town"
)
_RELATIVES = _split("a cousin|an old friend|a neighbor|a colleague|a classmate|the landlord|an aunt")
_TOPICS = _split(
    "the holidays|a new job|the garden|an old photograph|the weekend|a funny story|"
    "the football game|plans for the summer"
)


def general(rng: random.Random) -> str:
    """Plain everyday narrative; background text for the pretraining mix only."""
    who = rng.choice(_PEOPLE)
    pool: list[Maker] = [
        lambda r: f"Later, {who} called {r.choice(_RELATIVES)} and they talked about {r.choice(_TOPICS)}.",
        lambda r: f"The bus was late, so {who} read a book while waiting.",
        lambda r: f"On the way home, {who} stopped at the {r.choice(_PLACES)} too.",
        lambda r: f"It was a quiet {r.choice(_DAYS)}, and {who} felt happy to be outside.",
        lambda r: "In the evening they cooked dinner together and went to bed early.",
        lambda r: f"{who} met {r.choice(_RELATIVES)} there and they had lunch.",
    ]

    def head(r: random.Random) -> str:
        return f"{who} went to the {r.choice(_PLACES)} on {r.choice(_DAYS)} and bought {r.choice(_THINGS)}."

    return _compose(rng, head, pool, lo=1, hi=3)


GENERAL = "general"

# Fixed order matters: domain indices and pretraining mixes depend on it.
GENERATORS: dict[str, Callable[[random.Random], str]] = {
    "arithmetic": arithmetic,
    "code": code,
    "legal": legal,
    "medical": medical,
    "recipes": recipes,
    "weather": weather,
    "sports": sports,
    "finance": finance,
    "geography": geography,
    "poetry": poetry,
    GENERAL: general,
}
