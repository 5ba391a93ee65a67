"""Answer matching: normalisation, exact/contains matching, and soundness of early stopping."""

from __future__ import annotations

import pickle
import sys
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from slick_curator.probing.matching import (
    _ASCII_COMPOSING,
    Matcher,
    hopeless,
    is_correct,
    normalize,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  The   Beatles ", "beatles"),
        ("St. Louis", "st louis"),
        ("U.S.", "us"),
        ("Saint-Denis", "saint denis"),
        ("Saint–Denis", "saint denis"),  # en dash is a dash too
        ("O'Brien", "obrien"),
        ("AC/DC", "acdc"),
        ("Theatre an Wien", "theatre wien"),  # only whole-word articles go
        ("STRASSE", "strasse"),
        ("straße", "strasse"),
        ("Ｐａｒｉｓ", "paris"),  # full-width forms fold under NFKC
        ("東京", "東京"),
        ("?!", ""),
        ("The", ""),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@pytest.mark.parametrize(
    ("prediction", "golds"),
    [
        (" Paris", ["Paris"]),
        ("Paris.\n", ["Paris"]),
        ("Beatles", ["The Beatles"]),
        ("the beatles", ["Beatles"]),
        ("St Louis", ["St. Louis"]),
        ("US", ["U.S."]),
        ("Saint Denis", ["Saint-Denis"]),
        ("Zu\u0308rich", ["Z\u00fcrich"]),  # decomposed vs composed
        ("STRASSE", ["straße"]),
        (" 東京", ["東京"]),
        ("Big Apple", ["New York City", "NYC", "Big Apple"]),
        ("?!", ["?!"]),
        ("  ?!  ", ["?!"]),
        ("the", ["The"]),
        ("A.", ["A"]),
    ],
)
def test_exact_matches(prediction: str, golds: list[str]) -> None:
    assert is_correct(prediction, golds)


@pytest.mark.parametrize(
    ("prediction", "golds"),
    [
        ("", ["Paris"]),
        ("   \n", ["Paris"]),
        ("", ["?!"]),
        ("", ["The"]),
        (" ", ["a"]),
        ("!?", ["?!"]),
        ("?", ["?!"]),
        ("The Beatles", ["The"]),
        ("Paris, France", ["Paris"]),
        ("Parisian", ["Paris"]),
        ("Zurich", ["Zürich"]),  # accents are kept
        ("London", ["New York City", "NYC"]),
        ("Paris", []),
        ("anything", ["", "   "]),
    ],
)
def test_exact_mismatches(prediction: str, golds: list[str]) -> None:
    assert not is_correct(prediction, golds)


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("It is Paris, France.", ["Paris"], True),
        ("It is the Paris of the east", ["The Paris"], True),
        ("Parisian cafes", ["Paris"], False),
        ("Montparis", ["Paris"], False),
        ("I think New York City.", ["York City"], True),
        ("New York", ["New York City"], False),
        ("Saint Denis basilica", ["Saint-Denis"], True),
        ("what?! really", ["?!"], False),  # raw golds also need token boundaries
        ("what ?! really", ["?!"], True),
        ("", ["Paris"], False),
        ("首都は東京です", ["東京"], False),  # no spaces, no word boundaries: a known limit
    ],
)
def test_contains(prediction: str, golds: list[str], expected: bool) -> None:
    assert is_correct(prediction, golds, mode="contains") is expected


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode"):
        Matcher(["Paris"], mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="golds"):
        is_correct("Paris", "Paris")


def test_matcher_agrees_with_functions_and_pickles() -> None:
    matcher = pickle.loads(pickle.dumps(Matcher(["The Beatles", "?!"])))
    for text in ["beatles", " the Beatles.", "?!", "", "Beat"]:
        assert matcher(text) == is_correct(text, ["The Beatles", "?!"])
        assert matcher.hopeless(text) == hopeless(text, ["The Beatles", "?!"])


# --- early stopping fires where it should ---------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "golds"),
    [
        (" London", ["Paris"]),
        (" Lo", ["Paris"]),
        (" Paris, France", ["Paris"]),
        (" Paris is", ["Paris"]),
        (" Pari ", ["Paris"]),
        (" The Rolling", ["The Beatles"]),
        (" London", ["Paris", "City of Light"]),
        (" Zü", ["Paris"]),
        (" K", ["Paris"]),  # a mark may follow "K", but no letter built on K is a "p"
        (" N.Y.E", ["NYC"]),
        (" Parix", ["Paris"]),
        (" Zur", ["Zürich"]),  # "u" is no longer last: no mark can reach it
        (" A-1", ["Kern County"]),  # a digit composes with nothing: the word "1..." is no gold's
        (" The 2", ["Paris"]),
        (" Bü", ["Bangkok"]),  # marks may follow "ü", but no letter built on "u" is an "a"
        (" Ｑ", ["Paris"]),  # full-width Q: built on "Q"
        (" Pa-", ["Paris"]),  # the dash ends the word "pa", whatever follows
        ("\u00a0Madrid", ["Paris"]),
        (" 大阪 ", ["東京"]),
        ("xy", ["?!"]),
        ("anything", []),
    ],
)
def test_hopeless_fires(prefix: str, golds: list[str]) -> None:
    assert hopeless(prefix, golds)


@pytest.mark.parametrize(
    ("prefix", "golds"),
    [
        ("", ["Paris"]),
        (" ", ["Paris"]),
        (" Par", ["Paris"]),
        (" Paris", ["Paris"]),
        (" Paris. ", ["Paris"]),
        (" Th", ["Paris"]),  # may still become "The Paris"
        (" The ", ["Paris"]),
        (" a", ["Paris"]),
        (" Saint-", ["Saint-Denis"]),
        (" Saint ", ["Saint-Denis"]),
        (" Zu", ["Zürich"]),  # a combining diaeresis may follow
        (" N.Y.C", ["NYC"]),
        (" P", ["Paris"]),
        (" T", ["Paris"]),  # may still become "The"
        (" I", ["İstanbul"]),  # the dot above may follow
        (" ?", ["?!"]),
        (" Z\ufffd\ufffd", ["Zürich"]),  # "ü" cut between tokens decodes as U+FFFD for now
        (" The", ["The"]),
        (" London", ["Paris", "London Bridge"]),
        (" A-", ["Kern County"]),  # "A-Kern County" still matches
        (" S.A.", ["Saint-Denis"]),  # "S.A.int-Denis" folds to "saint denis"
        (" 1", ["1st Division"]),
        (" <", ["≮"]),  # U+0338 may follow
        (" Bá", ["Bárány"]),
        (" Ｐ", ["Paris"]),
    ],
)
def test_hopeless_holds_off(prefix: str, golds: list[str]) -> None:
    assert not hopeless(prefix, golds)


def test_contains_mode_never_stops_early() -> None:
    assert not hopeless(" London is big and", ["Paris"], mode="contains")
    assert hopeless(" London", [" "], mode="contains")  # no gold can ever match


# --- the assumptions the stable-prefix argument rests on -----------------------------------


def _composition_firsts() -> set[str]:
    """The characters a canonical composition starts with (a mark that follows may join them)."""
    firsts = set()
    for cp in range(sys.maxunicode + 1):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<") and len(decomposition.split()) == 2:
            firsts.add(chr(int(decomposition.split()[0], 16)))
    return firsts


def test_whitespace_never_composes_and_stays_whitespace() -> None:
    firsts = _composition_firsts()
    spaces = [chr(cp) for cp in range(sys.maxunicode + 1) if chr(cp).isspace()]
    for space in spaces:
        assert not set(unicodedata.normalize("NFKD", space)) & firsts, hex(ord(space))
        assert unicodedata.normalize("NFKC", space).casefold().isspace(), hex(ord(space))
        assert normalize(f"x{space}y") == "x y"


def test_ascii_composing_table_holds_every_ascii_character_a_mark_composes_with() -> None:
    # The stable head keeps any other last ASCII character (a digit, punctuation): no mark that
    # follows can compose with it, and NFKC leaves it as it is.
    composing = {chr(cp) for cp in range(128)} & _composition_firsts()
    assert composing <= _ASCII_COMPOSING
    assert _ASCII_COMPOSING - composing == {"Q", "q"}
    for cp in range(128):
        assert unicodedata.normalize("NFKC", chr(cp)) == chr(cp)
        if chr(cp) not in _ASCII_COMPOSING:
            for mark in ("\u0301", "\u0308", "\u0338", "\u0345"):
                assert unicodedata.normalize("NFKC", chr(cp) + mark) == chr(cp) + mark


def test_casefold_is_context_free() -> None:
    # lower() special-cases a final sigma; the stable-prefix argument needs casefold not to.
    assert "ΑΣ".casefold() + "Α".casefold() == "ΑΣΑ".casefold()


# --- property-based soundness of hopeless ---------------------------------------------------

# Fragments chosen to stress every normalisation step: articles, whitespace kinds, ASCII and
# Unicode punctuation incl. dashes, combining marks that compose across a cut ("u" + U+0308,
# "<" + U+0338, Tamil U+0BC6 + U+0BBE), case folds that change length, compatibility forms that
# expand ("ﬁ", "¨" -> space + mark), Hangul jamo that compose, and CJK.
FRAGMENTS = [
    *"abehinprstuxAEPT",
    "the", "The ", "a ", "an ", "th", " ",
    "\t", "\n", "\u00a0", "\u3000",
    *".,-'?!/",
    *"19:=",
    "\u2014", "\u2013",
    "\u0301", "\u0308", "\u0338", "\u0345", "\u0307",
    "<", "é", "ü", "ß", "İ", "ﬁ", "Σ", "ς", "¨", "ǰ", "Ａ",
    "\u1100", "\u1161", "\u11a8", "가",
    "\u0bc6", "\u0bbe",
    "東", "京",
]
texts = st.lists(st.sampled_from(FRAGMENTS), max_size=10).map("".join)
REAL_GOLDS = [
    "Paris", "The Beatles", "Saint-Denis", "U.S.", "Z\u00fcrich", "Zu\u0308rich", "straße",
    "?!", "The", "a", "東京", "가각", "AC/DC", "a-ha", "İstanbul", "ﬁnal", "Σίσυφος", "A-1",
    "24 Hours",
]
golds_st = st.lists(st.sampled_from(REAL_GOLDS) | texts, min_size=1, max_size=3)
harmless = st.lists(
    st.sampled_from([" ", "the ", "The ", "a ", ".", ",", "!", "\u00a0", "\t", "'"]), max_size=4
).map("".join)


@st.composite
def noisy(draw: st.DrawFn, gold: str) -> str:
    """`gold` with case flips, inserted periods, and a random Unicode normal form."""
    chars = [ch.swapcase() if ch.isascii() and draw(st.booleans()) else ch for ch in gold]
    text = "".join(ch + ("." if draw(st.integers(0, 5)) == 0 else "") for ch in chars)
    form = draw(st.sampled_from(["NFC", "NFD", "NFKC", None]))
    return unicodedata.normalize(form, text) if form else text


@settings(max_examples=1500, deadline=None)
@given(
    golds=golds_st,
    prefix=texts,
    continuation=texts,
    mode=st.sampled_from(["exact", "squad", "contains"]),
)
@example(golds=["Zürich"], prefix=" Zu", continuation="\u0308rich", mode="exact")
@example(golds=["The Paris"], prefix=" Th", continuation="e Paris", mode="exact")
@example(golds=["Paris"], prefix=" The", continuation=" Paris", mode="exact")
@example(golds=["각"], prefix="가", continuation="\u11a8", mode="exact")
def test_hopeless_is_sound_on_random_text(
    golds: list[str], prefix: str, continuation: str, mode: str
) -> None:
    if hopeless(prefix, golds, mode):  # type: ignore[arg-type]
        assert not is_correct(prefix + continuation, golds, mode)  # type: ignore[arg-type]


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), golds=golds_st, lead=harmless, tail=harmless, junk=texts)
def test_hopeless_never_fires_on_the_way_to_a_match(
    data: st.DataObject, golds: list[str], lead: str, tail: str, junk: str
) -> None:
    gold = data.draw(st.sampled_from(golds))
    mode = data.draw(st.sampled_from(["exact", "squad"]))
    # A harmless frame around a noisy gold usually matches; random junk as the lead checks
    # junctions where the gold's first character composes with what came before.
    start = data.draw(st.sampled_from([lead, junk]))
    full = start + data.draw(noisy(gold)) + tail
    if not is_correct(full, golds, mode):
        return
    for cut in range(len(full) + 1):
        assert not hopeless(full[:cut], golds, mode), (full[:cut], full, mode)


@settings(max_examples=300, deadline=None)
@given(gold=st.sampled_from([g for g in REAL_GOLDS if normalize(g)]), lead=harmless)
def test_framed_golds_match_and_every_prefix_stays_hopeful(gold: str, lead: str) -> None:
    full = lead + gold + "."
    assert is_correct(full, [gold])
    assert not any(hopeless(full[:cut], [gold]) for cut in range(len(full) + 1))


# --- squad mode: the SQuAD / EntityQuestions normaliser, exactly -----------------------------


def _squad_reference(s: str) -> str:
    """normalize_answer from the SQuAD v1.1 evaluation script, verbatim in substance."""
    import re
    import string

    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


@settings(max_examples=800, deadline=None)
@given(prediction=texts, gold=st.sampled_from(REAL_GOLDS) | texts)
def test_squad_mode_is_the_squad_normaliser(prediction: str, gold: str) -> None:
    from slick_curator.probing.matching import squad_normalize

    assert squad_normalize(prediction) == _squad_reference(prediction)
    expected = _squad_reference(prediction) == _squad_reference(gold)
    assert is_correct(prediction, [gold], "squad") == expected


@pytest.mark.parametrize(
    ("prediction", "gold", "exact", "squad"),
    [
        ("Saint Denis", "Saint-Denis", True, False),  # SQuAD deletes the dash
        ("SaintDenis", "Saint-Denis", False, True),
        ("$5", "5", False, True),  # SQuAD deletes ASCII symbols; we keep them
        ("the«end", "«end", False, True),  # SQuAD's \b finds an article before a «
        ("«Paris»", "Paris", True, False),  # SQuAD keeps non-ASCII punctuation
    ],
)
def test_where_default_and_squad_differ(prediction, gold, exact, squad) -> None:
    assert is_correct(prediction, [gold], "exact") is exact
    assert is_correct(prediction, [gold], "squad") is squad
