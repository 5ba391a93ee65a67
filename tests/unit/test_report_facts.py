"""The report's fact view: counts of answer kinds, no_facts rows and facts by label x category,
examples per category, and the HTML with each fact highlighted (user text escaped)."""

from __future__ import annotations

import re
from html import unescape

from annotated_helpers import synthetic
from freeform_helpers import H, M, Row, U, W, annotated_table
from slick_client.schemas import CurationParams
from slick_curator.curation import AnnotatedFile
from slick_curator.reporting import build_report, render_html

HOSTILE = '<img src=x onerror="alert(1)">'
ROWS = [
    Row("Tell me about Kenya.", ["The capital of Kenya is Nairobi.",
                                 "Kenya had 47,564,296 people in 2019."],
        [("Nairobi", H, "GPE"), ("47,564,296", U, "CARDINAL"), ("2019", H, "DATE")]),
    Row("Who wrote <b>it</b>?", [f"The book {HOSTILE} was written by Ann & Bo.",
                                 "Bo was born in Perth."],
        [("Ann & Bo", M, "PERSON"), ("Perth", W, "GPE")]),
    Row("Say hello.", ["Hello, nice to meet you!"], []),
    Row("What is the capital of Chile?", answer="Santiago"),
    Row("Tell me about Oslo.", ["Oslo is the capital of Norway."], [("Oslo", H, "GPE")]),
]


def report(policy="filter", examples=5):
    data = AnnotatedFile.from_table(annotated_table(ROWS))
    return build_report(data, CurationParams(policy=policy), examples=examples)


def test_counts_answer_kinds_no_facts_and_facts_by_label_and_category():
    r = report()
    assert (r.rows, r.probed, r.no_facts, r.skipped) == (5, 4, 1, 0)
    assert r.answer_kinds == {"short": 1, "long": 4}
    assert r.skipped_rows == []  # a no_facts row is not a skipped one
    f = r.facts
    assert (f.rows, f.no_facts, f.facts) == (4, 1, 6)
    assert f.categories == {H: 3, M: 1, W: 1, U: 1}
    assert f.by_label == {
        "GPE": {H: 2, M: 0, W: 1, U: 0},
        "CARDINAL": {H: 0, M: 0, W: 0, U: 1},
        "DATE": {H: 1, M: 0, W: 0, U: 0},
        "PERSON": {H: 0, M: 1, W: 0, U: 0},
    }
    assert list(f.by_label)[0] == "GPE"  # most facts first


def test_examples_per_row_category_with_facts_and_the_policy_action():
    f = report("trim").facts
    assert [e.row for e in f.examples[U]] == [0]
    assert [e.row for e in f.examples[W]] == [1]
    assert [e.row for e in f.examples[H]] == [4]
    assert [e.row for e in f.examples["no_facts"]] == [2]
    kenya = f.examples[U][0]
    assert kenya.action == "trim" and kenya.reason.startswith("trimmed:")
    assert [(x.text, x.category) for x in kenya.facts] == [
        ("Nairobi", H), ("47,564,296", U), ("2019", H)]
    assert all(kenya.answer[x.start:x.end] == x.text for x in kenya.facts)
    assert f.examples["no_facts"][0].action == "keep"
    assert report(examples=0).facts.examples[U] == []


def test_html_highlights_each_fact_in_its_category_and_escapes_user_text():
    html = render_html(report("trim"))
    section = html[html.index('<section id="facts">'):html.index("</section>",
                                                                 html.index('id="facts"'))]
    marks = re.findall(r'<mark class="fact k-(\w+)" title="([^"]*)">(.*?)</mark>', section)
    # Rows by category (HighlyKnown first), facts in answer order.
    assert [(c, unescape(t)) for c, _, t in marks] == [
        (H, "Oslo"), (M, "Ann & Bo"), (W, "Perth"), (H, "Nairobi"), (U, "47,564,296"),
        (H, "2019")]
    assert marks[4][1] == "CARDINAL · Unknown · P_greedy 0"
    # The text around the marks is the answer, escaped: no tag of the user's survives.
    assert "<img" not in html and "<b>it</b>" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in section
    assert "Who wrote &lt;b&gt;it&lt;/b&gt;?" in section
    assert "Ann &amp; Bo</mark>" in section
    text = unescape(re.sub(r"<[^>]+>", "", section))
    assert "The capital of Kenya is Nairobi. Kenya had 47,564,296 people in 2019." in text
    # Legend, the label table and the policy line of the trim policy.
    assert 'href="#facts"' in html and "Facts by label" in section
    assert all(f"</i>{c}</span>" in section for c in (H, M, W, U))
    assert "+ 1 trimmed" in html and "Trimmed</div>" in html


def test_a_short_only_file_has_no_fact_view():
    r = build_report(AnnotatedFile.from_table(synthetic([H, U, None])))
    assert r.facts is None and r.no_facts == 0 and r.answer_kinds == {}
    html = render_html(r)
    assert 'id="facts"' not in html and 'href="#facts"' not in html
    assert "trimmed" not in html


def test_exemplar_sets_are_looked_up_by_exemplar_pool():
    sets = report().exemplar_sets
    by_pool = {(s.group, s.index): s.exemplar_ids for s in sets}
    assert by_pool[("P36 [long-form]", 0)] == ["x"] and by_pool[("P36", 1)] == ["t"]
