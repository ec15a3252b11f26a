"""Fast checks of retrieval, citation and evaluation pieces (no generator needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.citations import best_sentence, support, term_coverage, unsupported_numbers
from core.evaluate import DatasetError, compare, comparisons, contains, exact_match, load_dataset, summarize, token_f1
from core.retrieval import BM25Index, is_follow_up, porter_stem, retrieval_query
from core.text import sentence_spans


def pick_quote(sentences: list[str], query: str, topic: str) -> str:
    """The sentence `quote_index` picks, shown without its clause label ("" for none), as
    `core.answer.whole_quote` shows it."""
    from core.answer import quote_index
    from core.text import drop_item_label

    at = quote_index(sentences, query, topic)
    return drop_item_label(sentences[at]) if at >= 0 else ""


def brute_force_bm25(texts: list[str], query: str, k1: float = 1.2, b: float = 0.75) -> list[float]:
    """Textbook BM25 in plain Python, to check the sparse-matrix version."""
    index = BM25Index(["x"], ["placeholder"])  # only for its analyzer
    analyze = index.vectorizer.build_analyzer()
    docs = [analyze(t) for t in texts]
    avg = sum(map(len, docs)) / len(docs)
    scores = []
    for doc in docs:
        s = 0.0
        for term in set(analyze(query)):
            df = sum(term in d for d in docs)
            if not df:
                continue
            idf = np.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            tf = doc.count(term)
            s += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg))
        scores.append(s)
    return scores


def test_bm25_matches_the_textbook_formula():
    texts = ["the court shall consist of fifteen members", "members of the court are elected for nine years",
             "oral rehydration salts for cholera patients", "the president of the court is elected for three years",
             "cholera cholera cholera vaccine"]
    index = BM25Index([str(i) for i in range(len(texts))], texts)
    for query in ["court members", "cholera vaccine", "elected years president"]:
        expected = brute_force_bm25(texts, query)
        got = dict(index.search(query, k=10))
        for i, score in enumerate(expected):
            assert got.get(str(i), 0.0) == pytest.approx(score, rel=1e-4)
    assert index.search("nothing matches this", 3) == []
    assert index.holding(["court", "elect"]) == ["1", "3"]  # stemmed terms, as the analyzer writes them
    assert index.holding(["court", "unknownword"]) == [] and index.holding([]) == []


SCORES_SCRIPT = """
import json, random
from core.citations import term_coverage
from core.retrieval import BM25Index
rng = random.Random(0)
words = [f"w{i}x" for i in range(60)]
texts = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 40))) for _ in range(300)]
query = " ".join(words[:40])
scores = BM25Index([str(i) for i in range(len(texts))], texts).search(query, k=300)
print(json.dumps([[i, s.hex()] for i, s in scores] + [c.hex() for c in term_coverage(query, texts)]))
"""


def test_scores_do_not_change_with_the_hash_seed():
    """A query's terms are a set, whose order changes with PYTHONHASHSEED: summed in that
    order, float scores differed in their last bits and near-ties swapped places, so RAFT
    data made twice from the same questions differed in about 20 of 684 examples."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    runs = {subprocess.run([sys.executable, "-c", SCORES_SCRIPT], capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parent.parent, env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout
            for seed in range(4)}
    assert len(runs) == 1


def turn(question: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": "an answer [1]."}]


@pytest.mark.parametrize("previous, follow_up, standalone", [
    ("What dose of ORS do adults need?", "And what about children?", "What dose of ORS do children need?"),
    ("When does this Agreement start?", "And how long does it last?", "How long does this Agreement last?"),
    ("How long is the term of office of the President?", "What about the Vice-President?",
     "How long is the term of office of the Vice-President?"),
    ("What is the dose of doxycycline for adults?", "and for children?",
     "What is the dose of doxycycline for children?"),
    ("How are judges of the Court elected?", "Who can remove them?", "Who can remove judges of the Court?"),
    # no rewrite fits: the previous question goes in front
    ("Who elects the members of the Court?", "And for how long?",
     "Who elects the members of the Court? And for how long?"),
    ("What dose of ORS do adults need?", "Is it safe for them?",
     "What dose of ORS do adults need? Is it safe for them?"),
])
def test_follow_ups_become_standalone_questions(previous, follow_up, standalone):
    assert retrieval_query(follow_up, turn(previous)) == standalone


def test_questions_that_stand_alone_are_left_alone():
    assert retrieval_query("What is the capital of France?", turn("What dose of ORS do adults need?")) \
        == "What is the capital of France?"
    assert retrieval_query("And what about children?", []) == "And what about children?"
    assert not is_follow_up("Who presides over impeachment trials?")


def test_support_ignores_words_echoed_from_the_question():
    question = "What is the minimum age to be a Senator?"
    assert support("The minimum age to be a Senator is thirty years.", "attained to the Age of thirty Years",
                   question) == 1.0
    assert support("The minimum age to be a Senator is 18.", "NATIONAL HEALTH POLICY", question) == 0.0


def test_best_sentence_is_the_one_holding_the_answer():
    passage = "Article 3\n1. The Court shall consist of fifteen members. 2. No two may be nationals of one state."
    sentence, score, (s, e) = best_sentence("The Court has fifteen members.", passage, "How many members?")
    assert "fifteen members" in sentence and passage[s:e] == sentence and score > 0.5


def test_term_coverage_weighs_the_rarer_question_words():
    sentences = ["The virus spreads between people in droplets.",
                 "The incubation period of the virus is five days.",
                 "The virus was first seen in bats."]
    coverage = term_coverage("What is the incubation period of the virus?", sentences)
    # "virus" is in every sentence and weighs little; "incubation period" decides
    assert coverage[1] == max(coverage) == 1.0 and coverage[0] == coverage[2] < 0.25
    assert term_coverage("the of", sentences) == [0.0, 0.0, 0.0]  # no content words


def test_numbers_must_be_stated_in_the_passages():
    context = "No Person shall be a Senator who shall not have attained to the Age of thirty Years."
    assert unsupported_numbers("A Senator must be 30 years old.", context) == []
    assert unsupported_numbers("A Senator must be 18 years old.", context) == ["18"]
    assert unsupported_numbers("It costs 14.20 euros.", "The price is 14.20 per box.") == []


def test_sentence_spans_cover_clauses_and_sentences():
    text = "Dose: 40 ml/kg. Give it slowly!\n(a) adults first\nThen children."
    assert [text[s:e] for s, e in sentence_spans(text)] == ["Dose: 40 ml/kg.", "Give it slowly!",
                                                            "(a) adults first", "Then children."]


def test_a_number_written_twice_across_a_line_is_no_list_item():
    """"upon one hundred and twenty\n(120) days written notice" is one sentence; "(120)"
    read as an item label cut it, and the answer began "(120) days"."""
    text = "Either Party may terminate upon one hundred and twenty\n(120) days written notice.\n(b) Then this."
    assert [" ".join(text[s:e].split()) for s, e in sentence_spans(text)] == [
        "Either Party may terminate upon one hundred and twenty (120) days written notice.", "(b) Then this."]
    items = "The parties agree:\n(1) to pay; and\n(2) to deliver."  # a list numbered in figures stays one
    assert [text for text in (items[s:e] for s, e in sentence_spans(items))] == [
        "The parties agree:", "(1) to pay; and", "(2) to deliver."]


def test_pdf_line_breaks_do_not_end_sentences():
    # pypdf breaks lines anywhere: a capital after a line break is a heading's end only
    # after a short heading-like line, or at a blank line
    text = ("12. GOVERNING LAW\nThis Agreement shall be governed by the laws of the State of\nDelaware. The term "
            "shall be renewed for one year unless the Buyer\nNotifies the Seller.\n\nArticle 3 Payment")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "12.", "GOVERNING LAW", "This Agreement shall be governed by the laws of the State of\nDelaware.",
        "The term shall be renewed for one year unless the Buyer\nNotifies the Seller.", "Article 3 Payment"]


def test_bullets_and_footnote_marks_end_sentences_and_are_dropped():
    # WHO's ORS guidance lists its rules as "- " items with no full stop between them: a
    # quote of one rule must not run on into the next
    text = ("Key points:\n- The nearer the sodium of the solution to that of\nplasma, the faster its absorption\n"
            "- The ratio of sodium to glucose should be 1:1 to 1:1.4\n\u2022 Potassium losses are higher in infants.")
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Key points:", "The nearer the sodium of the solution to that of\nplasma, the faster its absorption",
        "The ratio of sodium to glucose should be 1:1 to 1:1.4", "Potassium losses are higher in infants."]
    text = "- First item.\n- Second."
    assert [text[s:e] for s, e in sentence_spans(text)] == ["First item.", "Second."]
    # a footnote mark after a full stop ends the sentence (US Constitution, as pypdf reads it)
    text = "fill such Vacancies.4\n3 No Person shall be a Senator. It rose 2.5 in 2003. See Fig.3 below."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "fill such Vacancies.", "3 No Person shall be a Senator.", "It rose 2.5 in 2003.", "See Fig.3 below."]
    # a hyphen inside a line, or at a line's end, is no bullet
    text = "a well-known\nside-effect of long-\nterm use - rarely seen."
    assert [text[s:e] for s, e in sentence_spans(text)] == [text]


def test_squad_metrics():
    assert contains("The term is Nine Years.", ["nine years"]) == 1.0
    assert contains("It is ten years.", ["nine years"]) == 0.0
    assert contains("Within 90 days.", ["ninety days"]) == 1.0 and contains("45 days", ["forty-five days"]) == 1.0
    assert exact_match("the French and English", ["French and English"]) == 1.0
    assert contains("Papa John’s Marketing Fund, Inc.", ["Papa John's Marketing Fund"]) == 1.0  # ’ and '
    assert exact_match("“Distributor”", ['"Distributor"']) == 1.0
    assert token_f1("French and English", ["English and French languages"]) == pytest.approx(0.857, abs=1e-3)


def test_dataset_bad_lines_are_reported_with_numbers(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"id": "1", "question": "Q?", "answers": ["a"]}) + "\n{broken\n"
                    + json.dumps({"question": "", "answers": ["a"]}) + "\n"
                    + json.dumps({"question": "Q2?", "answerable": True}) + "\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    message = str(err.value)
    assert "3 bad line(s)" in message and "line 2" in message and "line 3" in message and "line 4" in message
    path.write_text(json.dumps({"question": "Unanswerable?", "answerable": False}) + "\n")
    assert load_dataset(path)[0].answerable is False


def test_summary_has_intervals_and_percentiles():
    records = [{"scores": {"containment": float(i % 2), "f1": 0.5, "em": 0.0, "hit": 1.0, "source_hit": None,
                           "refusal_correct": None, "false_refusal": 0.0}, "seconds": float(i), "timings": {}}
               for i in range(10)]
    summary = summarize(records)
    low, high = summary["containment"]["ci95"]
    assert summary["containment"]["mean"] == 0.5 and low < 0.5 < high
    assert summary["p50_s"] == 4.5 and summary["p95_s"] == 8.55 and "source_hit" not in summary


def _scored(mode: str, i: int, containment: float | None, refusal: float | None = None) -> dict:
    return {"id": str(i), "mode": mode, "scores": {"containment": containment, "f1": containment, "em": 0.0,
                                                   "refusal_correct": refusal}}


def test_paired_comparison_counts_wins_and_gives_the_difference_and_ratio_an_interval():
    """rag holds the gold on 36 of 60 questions, plain on 9 of them: +0.45, 4x, both
    intervals clear of no difference; hybrid wins one question and loses one against
    rag, and its interval holds 0 (no win). Unanswerable questions count for refusals only."""
    rag = [_scored("rag", i, float(i < 36)) for i in range(60)] + [_scored("rag", 60, None, 1.0)]
    plain = [_scored("plain", i, float(i < 9)) for i in range(60)] + [_scored("plain", 60, None, 0.0)]
    hybrid = [_scored("hybrid", i, float(i < 35 or i == 36)) for i in range(60)]
    records = rag + plain + hybrid
    result = compare(records, "rag", "plain")
    containment = result["containment"]
    assert result["n"] == 61 and containment["n"] == 60
    assert containment["difference"] == 0.45 and (containment["wins"], containment["losses"]) == (27, 0)
    assert containment["ratio"] == 4.0 and containment["ci95"][0] > 0 and containment["ratio_ci95"][0] > 1
    assert result["refusal_correct"] == {"difference": 1.0, "ci95": [1.0, 1.0], "n": 1, "wins": 1, "losses": 0}
    tie = compare(records, "hybrid", "rag")["containment"]
    assert tie["difference"] == 0.0 and (tie["wins"], tie["losses"]) == (1, 1)
    assert tie["ci95"][0] < 0 < tie["ci95"][1]
    pairs = [(row["mode"], row["against"]) for row in comparisons(records)]
    assert pairs == [("rag", "plain"), ("hybrid", "rag"), ("hybrid", "plain")]  # no finetuned or base here


def test_optional_cross_encoder_reorders_candidates(settings, contract_pdf, tmp_path):
    """A tiny random cross-encoder stands in for a real one: the hits come back in its order."""
    from dataclasses import replace

    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from core.models import resolve_embedding_path
    from core.retrieval import Retriever
    from knowledge.store import Store

    tokenizer = AutoTokenizer.from_pretrained(resolve_embedding_path(settings.embedding_model))
    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32,
                                                     num_hidden_layers=1, num_attention_heads=2,
                                                     intermediate_size=64, num_labels=1))
    model.save_pretrained(tmp_path / "reranker")
    tokenizer.save_pretrained(tmp_path / "reranker")
    kb = Store(settings).kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    reranked = Retriever(kb, replace(settings, reranker_model=str(tmp_path / "reranker"))).search("notice", k=3)
    scores = [h.rerank_score for h in reranked]
    assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)
    assert all(h.rerank_score is None for h in Retriever(kb, settings).search("notice", k=3))


def test_retrieval_metrics_only_for_retrieval_modes():
    from core.evaluate import Item, score_item

    item = Item("1", "How long?", ["nine years"], source="icj.pdf")
    sources = [{"source": "icj.pdf", "page": 3, "text": "elected for nine years", "sentence": "", "score": 0.5,
                "cited": False}]
    for mode, expect_hit in (("rag", 1.0), ("hybrid", 1.0), ("finetuned", None), ("base", None)):
        scores = score_item(item, {"mode": mode, "refused": False, "answer": "Nine years.", "sources": sources})
        assert scores["hit"] == expect_hit and scores["containment"] == 1.0


@pytest.mark.parametrize("word, stem", [
    ("caresses", "caress"), ("ponies", "poni"), ("cats", "cat"), ("agreed", "agre"), ("plastered", "plaster"),
    ("motoring", "motor"), ("sing", "sing"), ("hopping", "hop"), ("filing", "file"), ("happy", "happi"),
    ("relational", "relat"), ("conditional", "condit"), ("generalization", "gener"), ("adjustment", "adjust"),
    ("adoption", "adopt"), ("controll", "control"), ("treated", "treat"), ("treats", "treat"), ("2019", "2019"),
])
def test_bm25_stems_words_as_porter_does(word, stem):
    assert porter_stem(word) == stem


def test_bm25_matches_inflected_forms():
    index = BM25Index(["a", "b"], ["patients were treated with antibiotics", "the court elects its president"])
    assert [i for i, _ in index.search("treating a patient", 2)] == ["a"]


def test_answer_span_is_the_passage_wording_of_the_answer():
    from core.citations import answer_span

    sentence = ("Patients with a higher neutrophil count and low T-cell counts had increased SARS-CoV morbidity "
                "and mortality (12).")
    span, share = answer_span("The factors were a higher neutrophil count and low T-cell counts.", sentence,
                              "Which immune factors were associated with increased SARS-CoV morbidity and mortality?")
    assert span == "a higher neutrophil count and low T-cell counts" and share > 0.6
    span, share = answer_span("Ninety days.", "Either party may terminate with ninety (90) days written notice.",
                              "How much notice is needed to terminate?")
    assert span == "ninety (90) days" and share == 1.0
    assert answer_span("Paris", "The river is 40 km long.") == ("", 0.0)


def test_a_single_digit_is_part_of_the_answer():
    from core.answer import extract_span

    sentences = ["No one who has acted as President for more than two years shall be elected more than once.",
                 "He shall hold his Office during the Term of four Years."]
    question = "How long is the term of office of the President?"
    assert extract_span("The term of office of the President is 4 years.", question, sentences) == ("four Years", 1)


def test_extracted_answer_needs_one_sentence_to_hold_it():
    from core.answer import extract_span

    sentences = ["The agreement is governed by the laws of the State of Oregon.", "Invoices are payable in 45 days."]
    question = "Which state's law governs the agreement?"
    span = extract_span("It is governed by Oregon law.", question, sentences)
    assert span == ("is governed by the laws of the State of Oregon", 0)
    assert extract_span("Texas law applies.", question, sentences) == ("", -1)


def three_contracts(settings):
    """A knowledge base of three contracts between different parties, each with its own
    governing law."""
    from knowledge.store import Store

    kb = Store(settings).kb("contracts", create=True)
    for name, parties, state in (("supply.txt", "Acme Widgets and Borealis Trading", "Oregon"),
                                 ("distribution.txt", "Zephyr Foods and Quorum Logistics", "Texas"),
                                 ("hosting.txt", "Nimbus Hosting and Larkspur Media", "Ohio")):
        text = (f"AGREEMENT\n\nThis agreement is made between {parties}.\n\n" + "The parties cooperate. " * 80
                + f"\n\nThis agreement is governed by the laws of the State of {state}.")
        assert kb.ingest_bytes(name, text.encode()).ok
    return kb


def test_a_date_question_gets_the_chunk_with_the_contracts_own_date(settings):
    """The date an opening states after long addresses is in the second chunk: a question
    asking for the contract's date reads that chunk, other questions do not."""
    from dataclasses import replace

    from core.retrieval import Retriever
    from knowledge.store import Store

    kb = Store(settings).kb("dated", create=True)
    addresses = "having its principal offices at 100 Main Street, Springfield, and " * 20
    for name, parties in (("supply.txt", "Acme Widgets and Borealis Trading"),
                          ("distribution.txt", "Zephyr Foods and Quorum Logistics")):
        clauses = "".join(f"Under this Supply Agreement {parties} agree on the date of delivery {n}. "
                          for n in range(60))  # clauses that share more words with the question
        text = (f"SUPPLY AGREEMENT\n\nThis agreement is made between {parties}, {addresses}entered into as of "
                f"the 2nd day of June, 2008.\n\n{clauses}\n\nThis agreement is governed by the laws of Oregon.")
        assert kb.ingest_bytes(name, text.encode()).ok
    retriever = Retriever(kb, replace(settings, focus_min_score=1.0))
    doc = kb.find("distribution.txt").doc_id
    dated = next(c for c in kb.chunks_of(doc) if "2nd day of June, 2008" in c.text)
    assert dated.index > 0  # not in the opening chunk
    question = "What is the date of the Supply Agreement between Zephyr Foods and Quorum Logistics?"
    hits = retriever.search(question, k=4)
    assert {h.chunk.doc_id for h in hits} == {doc} and any(h.chunk.id == dated.id for h in hits)
    assert any(h.chunk.index == 0 for h in hits)  # the opening that names the parties stays
    law = retriever.search("Which law governs the Supply Agreement between Zephyr Foods and Quorum Logistics?", k=4)
    assert not any(h.ranks.get("date") for h in law)


def test_a_small_knowledge_base_focuses_on_the_document_a_question_names(settings, monkeypatch):
    """BM25 weighs a term by how few documents hold it: in four PDFs, a title only one of
    them holds weighs a quarter of what it would in CUAD's 102 contracts, where the focus
    thresholds were set, and "Where is the seat of the International Court of Justice?"
    searched the Constitution too. The thresholds scale with that weight, never up."""
    from dataclasses import replace

    from core.retrieval import Retriever, focus_scale
    from knowledge.store import Store

    assert focus_scale(102) == focus_scale(147) == 1.0
    assert 0.25 < focus_scale(4) < 0.3 and focus_scale(4) < focus_scale(20) < 1.0
    kb = Store(settings).kb("statutes", create=True)
    articles = "".join(f"Article {n}\nThe Court shall hear cases of kind {n} brought by the states.\n\n"
                       for n in range(1, 30))
    documents = {"icj.txt": "Statute of the International Court of Justice\n\n" + articles +
                 "Article 30\nThe seat of the Court shall be established at The Hague.\n",
                 "constitution.txt": "Constitution of the United States\n\nThe Congress shall assemble once "
                 "in every year at the seat of government.\n",
                 "cholera.txt": "Cholera: oral rehydration salts\n\nGive ORS to every patient.\n",
                 "policy.txt": "National Health Policy\n\nReduce infant mortality rate to 28 by 2019.\n"}
    for name, text in documents.items():
        assert kb.ingest_bytes(name, text.encode()).ok
    retriever = Retriever(kb, settings)
    question = "Where is the seat of the International Court of Justice?"
    assert retriever.named_document(question) == kb.find("icj.txt").doc_id
    assert "The Hague" in retriever.search(question, k=4)[0].chunk.text
    # a header's plain words are not a name: here the question's name must be in it too
    assert retriever.named_document("Which seat of government assembles in every year for the ICJ?") is None
    # ... only below the threshold as set: a score that one accepts focuses as it always did
    # (COVID-QA's 98 articles scale it by 0.99, and their prompts stay the same)
    as_set = Retriever(kb, replace(settings, focus_min_score=1.0))
    assert as_set.named_document("Which seat of government assembles in every year for the ICJ?") == \
        kb.find("constitution.txt").doc_id
    assert retriever.named_document("Which seat of government assembles in every year for the Congress?") == \
        kb.find("constitution.txt").doc_id
    monkeypatch.setattr("core.retrieval.focus_scale", lambda documents: 1.0)  # the thresholds as set on CUAD
    assert retriever.named_document(question) is None


def test_question_naming_a_document_is_answered_from_it(settings):
    from dataclasses import replace

    from core.retrieval import Retriever

    kb = three_contracts(settings)
    question = "Which law governs the agreement between Zephyr Foods and Quorum Logistics?"
    focused = Retriever(kb, replace(settings, focus_min_score=1.0))
    assert focused.named_document(question) == kb.find("distribution.txt").doc_id
    assert {h.chunk.source for h in focused.search(question, k=4)} == {"distribution.txt"}
    from core.answer import mode_retriever
    assert mode_retriever("rag", kb, focused.settings).search(question, k=4)[0].chunk.source == "distribution.txt"
    plain = mode_retriever("plain", kb, focused.settings)  # the tutorial baseline searches the whole knowledge base
    plain.search(question, k=4)
    assert plain.focus is None and plain.method == "dense"
    two = focused.search(question, k=2)  # the clause asked about, and the opening that names the parties
    assert any("Texas" in h.chunk.text for h in two) and any(h.chunk.index == 0 for h in two)
    assert focused.named_document("Which law governs the agreement?") is None  # names no document
    # A title and one party's name score low, but only that contract's header holds them
    one_party = "Who signed the Distribution Agreement with Zephyr?"
    strict = Retriever(kb, replace(settings, focus_min_score=50.0, focus_named_min_score=1.0))
    assert strict.named_document(one_party) == kb.find("distribution.txt").doc_id
    assert Retriever(kb, replace(settings, focus_min_score=50.0, focus_named_min_score=50.0)) \
        .named_document(one_party) is None
    assert strict.named_document("Who signed the Agreement with Zephyr and Acme?") is None  # no header holds both
    assert strict.named_document("Who works with Zephyr?") is None  # no document's title: a name is a subject
    assert "Xylofon" in focused.unknown_names("Which law governs the agreement between Acme and Xylofon?")
    assert focused.unknown_names(question) == []
    assert focused.unknown_names("Which law governs the agreement of Zephir Foods?") == []  # a misspelling
    # every name is in the knowledge base, but no one document names these parties together
    apart = focused.names_apart("Which law governs the agreement between Acme Widgets and Quorum Logistics?")
    assert apart in (["Acme", "Widgets"], ["Quorum", "Logistics"])
    assert focused.names_apart(question) == []
    assert focused.names_apart("Which law governs the agreement between Zephir Foods and Quorum Logistics?") == []
    assert focused.names_apart("Which law governs the agreement of Zephyr?") == []  # too few names to judge
    # every name is in the knowledge base, but the best passage's document names neither party
    other = kb.find("distribution.txt").doc_id
    asked = "Which law governs the agreement between Acme Widgets and Borealis Trading?"
    assert focused.names_missing_from(asked, other) == ["Acme", "Widgets", "Borealis", "Trading"]
    assert focused.names_missing_from(asked, kb.find("supply.txt").doc_id) == []
    one_off = "Which law governs the agreement between Zephyr Foods and Quorum Trading?"  # one name may be a synonym
    assert focused.names_missing_from(one_off, other) == []
    assert focused.names_missing_from("Which law governs the agreement of Acme?", other) == []  # too few names
    from core.answer import answer
    # names_apart off: the best passage's document is refused before any generation
    mixed = "Which law governs the agreement between Nimbus Widgets and Larkspur Trading?"
    refused = answer(mixed, mode="rag", kb=kb, settings=replace(settings, min_name_coverage=0.0))
    assert refused.refused and "which never mentions" in refused.reason, refused.reason
    assert "generation" not in refused.timings


def test_a_name_in_every_document_weighs_nothing_though_one_misspells_it(settings):
    from core.retrieval import Retriever, _name_weights

    kb = three_contracts(settings)
    assert kb.ingest_bytes("memo.txt", b"MEMO\n\nThis agreemnt note is from Nimbus Hosting.").ok
    corpus, wanted = Retriever(kb, settings)._judged_names(
        "Which law governs the Agreement between Acme Widgets and Borealis?", frozenset(kb.committed_ids()))
    assert len(wanted["agreement"]) == 2  # "agreement" and the near miss "agreemnt"
    weights = _name_weights(corpus, wanted)
    assert weights["agreement"] == 0.0  # in 3 of the 4 documents: its rare misspelling does not make it rare
    assert len(weights) == 4 and all(w > 0.5 for t, w in weights.items() if t != "agreement")  # one document each


def test_a_contract_between_parties_no_document_names_is_refused(settings):
    """Every word of "the Media Agreement between Larkspur Hosting and Nimbus Media" is in
    the hosting contract, between Nimbus Hosting and Larkspur Media: it is another contract."""
    from dataclasses import replace

    from core.answer import answer
    from core.parties import question_parties
    from core.retrieval import Retriever

    assert question_parties("Which law governs the Media Agreement between Larkspur Hosting and Nimbus Media?") \
        == ["Larkspur Hosting", "Nimbus Media"]
    assert question_parties("What happened between November 2002 and July 2003?") == []  # names no document
    kb = three_contracts(settings)
    hosting = kb.find("hosting.txt").doc_id
    retriever = Retriever(kb, replace(settings, focus_min_score=50.0, focus_named_min_score=50.0))
    swapped = "Which law governs the Media Agreement between Larkspur Hosting and Nimbus Media?"
    assert retriever.names_missing_from(swapped, hosting) == []  # every word is there
    assert retriever.parties_missing_from(swapped, hosting) == ["Larkspur Hosting", "Nimbus Media"]
    assert retriever.lacking(swapped, hosting) == ["Larkspur Hosting", "Nimbus Media"]
    one_found = "Which law governs the Media Agreement between Nimbus Hosting and Larkspur Trading?"
    assert retriever.parties_missing_from(one_found, hosting) == []  # one party as written is enough
    refused = answer(swapped, mode="rag", kb=kb, settings=retriever.settings)
    assert refused.refused and "Larkspur Hosting" in refused.reason and "generation" not in refused.timings


def test_answer_from_a_document_about_other_parties_is_found(settings):
    """An answer is refused when every passage it is found in comes from a document
    that lacks the question's names (the passages of an unfocused search come from
    several documents); one passage from a document that holds them is enough."""
    from dataclasses import replace

    from core.answer import Source, answer_elsewhere
    from core.retrieval import Retriever

    kb = three_contracts(settings)
    retriever = Retriever(kb, settings)
    supply, distribution, hosting = (kb.find(n).doc_id for n in ("supply.txt", "distribution.txt", "hosting.txt"))
    asked = "Which law governs the agreement between Acme Widgets and Borealis Trading?"
    retriever.search(asked)  # as when answering: the names are judged against the documents it searched

    def cited(*docs: str) -> list[Source]:
        return [Source(f"{d}.txt", 1, "text", "sentence", 0.5, True, doc_id=d) for d in docs]

    assert answer_elsewhere(retriever, asked, cited(distribution), checked=hosting) == (
        f"{distribution}.txt", ["Acme", "Widgets", "Borealis", "Trading"])
    assert answer_elsewhere(retriever, asked, cited(distribution, hosting), checked=supply)[1]  # both lack them
    assert answer_elsewhere(retriever, asked, cited(distribution, supply), checked=hosting) == ("", [])
    assert answer_elsewhere(retriever, asked, cited(distribution), checked=distribution) == ("", [])  # checked before
    uncited = [replace(s, cited=False) for s in cited(distribution)]
    assert answer_elsewhere(retriever, asked, uncited, checked=hosting) == ("", [])  # no answer, nothing to judge


def test_months_and_weekdays_are_not_names():
    from core.retrieval import _question_names

    assert _question_names("What was the fatality rate between November 2002 and July 2003 in Wuhan?") == ["Wuhan"]
    assert _question_names("Who signs on Monday for Acme Widgets?") == ["Acme", "Widgets"]


def test_answer_span_takes_the_shortest_window_and_the_answer_own_short_words():
    from core.citations import answer_span

    question = "What is the mean time from onset of symptoms to dyspnea in human adenovirus type 55?"
    span, _ = answer_span("The mean time from onset to dyspnea was 5 days.",
                          "The mean time from onset to dyspnea was 5 days (range, 1 to 10 days).", question)
    assert span == "was 5 days"
    span, _ = answer_span("The genes targeted are the E and RdRp genes.", "Assays targeting the E and RdRp genes "
                          "were designed.", "What genes have been targeted for the diagnostic RT-PCR tests?")
    assert span == "E and RdRp genes"


def test_answer_span_goes_on_over_a_coordination_the_answer_says():
    """Words the question also says close a span after two at most ("E and RdRp [genes]"),
    which cut "... could lower their physical" mid-phrase: where the sentence goes on with a
    coordination in the answer's own words and order, the span goes with it."""
    from core.citations import answer_span

    sentence = ("Because staff members are under much pressure, periodically taking time off could lower their "
                "physical and mental stress levels.")
    question = "What can lower the physical and mental stress levels of staff members?"
    span, _ = answer_span("take time off could lower their physical and mental stress levels.", sentence, question)
    assert span == "taking time off could lower their physical and mental stress levels"
    # an answer that stops short of the question's words is not lengthened by them, nor is
    # one that only restates the question after its answer
    assert answer_span("taking time off", sentence, question)[0] == "taking time off"
    assert answer_span("260-fold for the E-30 genome", "The read coverage was 260-fold for the E-30 genome.",
                       "What was the read coverage for the E-30 genome?")[0] == "260-fold"


def test_answer_span_starts_at_the_answer_word_the_passage_inflects_otherwise():
    """The model says "isolating", the passage "isolation": the span still starts there.
    Two parties are not one word in two inflections: "Licensor" never joins a span the
    model began with "Licensee"."""
    from core.citations import answer_span, same_word

    span, _ = answer_span("isolating if travelling back from an epidemic country",
                          "These do not include containment phase interventions such as isolation if travelling "
                          "back from an epidemic country such as China.",
                          "What is an example of containment phase intervention?")
    assert span == "isolation if travelling back from an epidemic country"
    assert same_word("delivered", "deliver") and same_word("termination", "terminate")
    assert not same_word("licensor", "licensee") and not same_word("license", "licensee")
    span, _ = answer_span("Licensee pays the royalties", "The Licensor and Licensee pays the royalties quarterly.",
                          "Who pays?")
    assert span == "Licensee pays the royalties"


def test_answer_type_follows_the_question_wording():
    from core.citations import expected_answer_type, has_answer_type

    assert expected_answer_type("How long is the initial term of the agreement?") == "duration"
    assert expected_answer_type("How much notice is needed to stop it renewing?") == "duration"
    assert expected_answer_type("How many cases were reported?") == "number"
    assert expected_answer_type("What is the date of the Supply Agreement?") == "date"
    assert expected_answer_type("On what date does it expire?") == "date"
    assert expected_answer_type("What is the incubation period?") is None
    assert has_answer_type("three (3) years", "duration") and has_answer_type("a one-year term", "duration")
    assert has_answer_type("thirty (30) calendar days", "duration")
    assert not has_answer_type("2019", "duration") and not has_answer_type("April, 2015", "duration")
    assert has_answer_type("the 1st day of October, 1999", "date") and has_answer_type("January 1, 2013", "date")
    assert not has_answer_type("the Effective Date", "date") and not has_answer_type("it may be", "date")
    assert has_answer_type("ninety days", "number") and not has_answer_type("the parties", "number")
    assert has_answer_type("anything", None)
    assert has_answer_type("Inventec Appliances Corporation", "party")
    assert has_answer_type("made by and between A and B", "party")
    assert not has_answer_type("the Company shall pay", "party")



def test_each_answer_check_says_why_it_failed(settings):
    from core.answer import Context, check_answer

    sentences = ["The agreement is governed by the laws of the State of Oregon.",
                 "Either party may end it with thirty days notice.",
                 "Invoices are payable in 45 days.", "The supplier is Acme Widgets of Portland."]
    context = Context(sentences, 0.6, sentences)

    def check(answer: str, question: str = "Which state's law governs the agreement?") -> tuple[str, str]:
        return check_answer(answer, question, context, settings)

    assert check("Oregon law.") == ("", "Oregon")
    assert check("I don't know.")[0] == "the model found no answer in the passages"
    assert check("The agreement.")[0] == "the answer only repeats the question"
    assert check("Texas law.")[0] == "the answer is not supported by the passages"
    assert check("It is governed by the laws of 12 states.")[0] == "the passages do not state 12"
    assert check("Oregon and Portland.")[0] == "no passage sentence states the answer"
    # answered from the fourth most relevant sentence: a phrase of the right shape, not the answer
    assert check("Acme Widgets.", "Who is the supplier named in the agreement?")[0] == \
        "the answer comes from a less relevant sentence"
    assert check("The laws of the State of Oregon.", "How long is the notice period?")[0] == \
        "the answer is not a duration"
    # a yes or no is a guess: the passage's sentence is shown instead (the quote that follows)
    assert check("Yes, the laws of the State of Oregon.", "Is the agreement governed by Oregon law?")[0] == \
        "a yes-or-no question is answered with the passage's own sentence"


def test_a_span_never_ends_on_a_word_that_needs_a_continuation():
    from core.citations import answer_span

    # CUAD, Alfa Aesar's distributor agreement: the span ended "Research Quantities of"
    sentence = ("2.1 NTC hereby grants to ALFA AESAR the exclusive right to market, sell and distribute Research "
                "Quantities of the Products within the Territory.")
    said = "The products that Alfa Aesar distributes are the Research Quantities of the Products."
    assert answer_span(said, sentence, "Which products does Alfa Aesar distribute?")[0] == \
        "Research Quantities of the Products"
    # no head noun the answer names after it: the dangling word goes
    sentence = "Vaccines help prevention and control of the disease in many countries."
    assert answer_span("prevention and", sentence, "What do vaccines help?")[0] == "prevention"
    assert answer_span("Party A", "It is made between Party A and Party B.", "Who is the other party?")[0] == "Party A"


def test_a_question_of_a_sentence_form_is_answered_with_the_sentence_that_holds_the_span(settings):
    from core.answer import Context, check_answer
    from core.text import question_form

    assert question_form("Why is the virus seasonal?") == "why"
    assert question_form("How many cases were reported?") == "how many"
    assert question_form("what ARE the symptoms") == "what are"
    assert question_form("Is it airborne?") == "is" and question_form("") == ""
    sentences = ["The virus spreads in winter because people gather indoors in dry air.",
                 "It was first reported in 2019."]
    context = Context(sentences, 0.6, sentences)
    question = "Why does the virus spread in winter?"
    # the model's words are cut out of the sentence as they are, the rest of the clause lost ...
    assert check_answer("people gather indoors", question, context, settings) == ("", "people gather indoors")
    # ... where the domain answers such questions with the sentence, the sentence is shown
    assert check_answer("people gather indoors", question, context, settings, sentence_forms=frozenset({"why"})) \
        == ("", sentences[0])
    # other forms keep their span, and a failed check stays failed
    when = "When was the virus first reported?"
    assert check_answer("2019", when, context, settings, sentence_forms=frozenset({"why"})) == ("", "2019")
    assert check_answer("in summer", question, context, settings, sentence_forms=frozenset({"why"}))[0] == \
        "the answer is not supported by the passages"
    # a sentence shown whole loses the clause number its document gives it
    numbered = Context(["2 The virus spreads in winter because people gather indoors in dry air."], 0.6,
                       ["2 The virus spreads in winter because people gather indoors in dry air."])
    assert check_answer("people gather indoors", question, numbered, settings, sentence_forms=frozenset({"why"})) \
        == ("", sentences[0])
    # ... and so does a span that reaches back to it (the model's "one" took in the clause's "1")
    senate = ["1 The Senate of the United States shall be composed of two Senators from each State, chosen by the "
              "Legislature thereof, for six Years; and each Senator shall have one Vote."]
    said = senate[0][2:] + "\n\nThe answer is 6 years."  # SmolLM2's answer in the PDF evaluation (pdf-13)
    shown = check_answer(said, "For how many years is a Senator chosen?", Context(senate, 0.6, senate), settings)[1]
    assert shown.startswith("The Senate of the United States") and "six Years" in shown


def test_item_labels_are_dropped_from_a_sentence_shown_whole_and_counts_kept():
    from core.text import drop_item_label

    for labelled in ("6 The Senate shall have the sole Power.", "(a) The Senate shall have the sole Power.",
                     "2.1. The Senate shall have the sole Power.", "(iv) The Senate shall have the sole Power.",
                     "3) The Senate shall have the sole Power.", "A. The Senate shall have the sole Power."):
        assert drop_item_label(labelled) == "The Senate shall have the sole Power."
    assert drop_item_label("4.5.1 Control of Tuberculosis: the policy") == "Control of Tuberculosis: the policy"
    assert drop_item_label("9.6 No party may assign") == "No party may assign"  # CUAD's numbered sections
    assert drop_item_label("(i) “IDIOCRACY” GUARANTEE AND ROYALTY") == "“IDIOCRACY” GUARANTEE AND ROYALTY"
    # a scientific article's section names (COVID-QA)
    assert drop_item_label("Abstract: Bats are a natural reservoir.") == "Bats are a natural reservoir."
    assert drop_item_label("Abstract: INTRODUCTION: Since 2008, cases rose.") == "Since 2008, cases rose."
    assert drop_item_label("Results showed a fall.") == "Results showed a fall."  # a word, not a heading
    for kept in ("15 States ratified it.", "2.5 % of GDP by 2025.", "12 Months after the date.", "In 2019 it fell.",
                 "2019. The end.", "COVID-19 The virus.", "1.5 Million people.", "2.5 mg daily."):
        assert drop_item_label(kept) == kept


def test_an_answer_from_the_second_sentence_needs_as_many_question_words(settings):
    from core.answer import Context, check_answer

    # the load test's case: the report clause ranks beside the invoice clause, and the
    # model copies its duration
    sentences = ["Invoices are payable within forty-five days of receipt.",
                 "Clause 7.1.10: the contractor delivers report 7110 within 13 days of the request."]
    context = Context(sentences, 0.6, sentences)
    question = "Within how many days are invoices payable?"
    assert check_answer("Within 13 days.", question, context, settings)[0] == \
        "the answer comes from a sentence that holds fewer of the question's words"
    assert check_answer("Within forty-five days.", question, context, settings) == ("", "forty-five days")
    # a number in two words is one number, in the passage as in the answer
    spaced = [sentences[0].replace("forty-five", "forty five")]
    assert check_answer("Within forty five days.", question, Context(spaced, 0.6, spaced), settings) == \
        ("", "forty five days")
    # a second sentence that holds the question's words as the first does may answer
    sentences = ["The agreement is governed by the laws of a state.",
                 "The agreement is governed by the laws of the State of Oregon."]
    question = "Which state's law governs the agreement?"
    assert check_answer("Oregon.", question, Context(sentences, 0.6, sentences), settings) == ("", "Oregon")


def test_context_puts_sentences_of_the_asked_kind_first(settings, monkeypatch):
    import core.answer
    from core.answer import select_context
    from core.retrieval import Hit
    from knowledge.chunking import Chunk

    text = ("Each renewal term of this agreement is subject to the terms and conditions of this agreement. "
            "The agreement renews for successive periods of two years.")
    hits = [Hit(Chunk(text, "a.txt", "a", 1, 0, len(text)), 1.0)]
    question = "How long is each renewal term of this agreement?"
    monkeypatch.setattr(core.answer, "TYPE_WINDOW", 0)  # by similarity alone the echo of the question wins
    assert "two years" not in select_context(question, hits, settings).sentences[0]
    monkeypatch.undo()
    assert "two years" in select_context(question, hits, settings).sentences[0]  # "how long" wants a duration
    # "who signed" wants a party: the sentence that names the parties, not one that repeats "signed"
    text = ("Any amendment of the agreement with Acme is valid only when signed by whoever signed the agreement. "
            "It is made by and between Acme Widgets, Inc. and Borealis Trading Ltd.")
    hits = [Hit(Chunk(text, "a.txt", "a", 1, 0, len(text)), 1.0)]
    question = "Who signed the agreement with Acme?"
    monkeypatch.setattr(core.answer, "TYPE_WINDOW", 0)
    assert "Borealis" not in select_context(question, hits, settings).sentences[0]
    monkeypatch.undo()
    assert "Borealis" in select_context(question, hits, settings).sentences[0]
    # "which law governs" wants the governing-law clause, not a sentence that says "law" twice
    text = ("Whichever state or country law applies, the agreement binds each party. "
            "This Agreement shall be governed by the laws of the State of Oregon.")
    hits = [Hit(Chunk(text, "a.txt", "a", 1, 0, len(text)), 1.0)]
    question = "Which state's or country's law governs the agreement?"
    monkeypatch.setattr(core.answer, "off_topic", lambda question, sentence: False)
    assert "Oregon" not in select_context(question, hits, settings).sentences[0]
    monkeypatch.undo()
    assert "Oregon" in select_context(question, hits, settings).sentences[0]


def test_governing_law_orders_the_context_but_does_not_refuse(settings):
    from core.answer import Context, check_answer
    from core.citations import off_topic, unstated_topic

    question = "Which state's or country's law governs the Supply Agreement between Acme and Beta?"
    courts = "The parties submit to the exclusive jurisdiction of the courts of the State of Oregon."
    governed = "This Agreement shall be governed by the laws of the State of Oregon."
    assert off_topic(question, courts) and not off_topic(question, governed)
    assert unstated_topic(question, courts) == ""  # the courts' state is most often the law's too
    assert check_answer("Oregon", question, Context([courts], 0.6, [courts]), settings) == ("", "Oregon")


def test_quote_for_a_question_of_no_answer_kind_must_name_its_topic():

    opening = "This Supply Agreement is made on 1 May 2020 between Acme Corp and Beta LLC of Texas."
    governing = "This Agreement shall be governed by the laws of the State of Delaware in all respects."
    short = "Governed by law."
    topic = "Which state's or country's law governs the between and?"  # the question, its names taken out
    assert pick_quote([opening, short, governing], topic, topic) == governing  # first that names law, long enough
    assert pick_quote([opening], topic, topic) == ""  # an opening sentence states no governing law: refuse
    date_question = "What is the date of the Supply Agreement between Acme and Beta?"
    assert pick_quote([governing, opening], date_question, "What is the date of the between and?") == opening
    assert pick_quote([governing], date_question, "What is the date of the between and?") == ""  # holds no date
    # a clause label is no number, and is not shown (US Constitution, page 2)
    trial = "6 The Senate shall have the sole Power to try all Impeachments."
    convict = "And no Person shall be convicted without the Concurrence of two thirds of the Members present."
    count_question = "How many Senators must concur to convict in an impeachment trial?"
    assert pick_quote([trial, convict], count_question, count_question) == convict
    assert pick_quote([trial], "Who tries impeachments?", "Who tries impeachments?") == trial[2:]


def test_a_renewal_term_must_come_from_a_sentence_that_speaks_of_renewal(settings):
    from core.answer import Context, check_answer
    from core.citations import unstated_topic

    question = "How long is each renewal term of the Supply Agreement between Acme and Beta?"
    year = "Contract Year shall mean the consecutive 12-month period beginning on January 1."
    renews = "This Agreement shall automatically renew for successive one (1) year periods unless ended."
    extends = "The Term shall be extended for additional periods of two (2) years each."
    assert unstated_topic(question, year) == "renewal"
    assert unstated_topic(question, renews) == "" and unstated_topic(question, extends) == ""
    assert unstated_topic("How long is the initial term of the agreement?", year) == ""  # asks of no topic
    context = Context([year], 0.6, [year])
    assert check_answer("12-month", question, context, settings)[0] == \
        "the sentence the answer comes from says nothing of renewal"
    assert check_answer("one (1) year", question, Context([renews], 0.6, [renews]), settings) == ("", "one (1) year")
    assert pick_quote([year, renews], question, "How long is each renewal term of the between and?") == renews
    assert pick_quote([year], question, "How long is each renewal term of the between and?") == ""  # refuse


def test_an_expiry_date_must_come_from_a_sentence_that_speaks_of_the_end(settings):
    from core.answer import Context, check_answer

    question = "On what date does the Endorsement Agreement between Mossimo and Duval expire?"
    opening = ("This AGREEMENT, made and entered into as of this 1st day of January, 2000, by and between "
               "MOSSIMO, INC. and DAVID DUVAL ENTERPRISES, INC.")
    period = ('"Contract Period" shall mean that period of time commencing on January 1, 2000 and concluding '
              "December 31, 2003.")
    assert check_answer("1st day of January, 2000", question, Context([opening], 0.6, [opening]), settings)[0] == \
        "the sentence the answer comes from says nothing of expiry"
    assert check_answer("December 31, 2003", question, Context([period], 0.6, [period]), settings) == \
        ("", "December 31, 2003")
    topic = "On what date does the between and expire?"
    assert pick_quote([opening, period], question, topic) == period
    assert pick_quote([opening], question, topic) == ""  # a contract's own date is its start: refuse
    # the opening still dates the agreement
    assert check_answer("January 1, 2000", "What is the date of the Endorsement Agreement?",
                        Context([opening], 0.6, [opening]), settings)[1] == "1st day of January, 2000"


def test_a_notice_period_must_be_a_duration_its_sentence_gives_as_notice(settings):
    from core.answer import Context, check_answer
    from core.citations import notice_durations

    question = "How much notice is needed to stop the Supply Agreement between Acme and Beta from renewing?"
    both = ("This Agreement will be automatically renewed for additional one (1) year terms unless thirty (30) "
            "days prior to the anniversary either party gives notice of renewal.")
    invoice = "Acme shall pay each invoice within sixty (60) days following the date of the invoice or renewal."
    assert notice_durations(both) == {("30", "day")}
    assert notice_durations("It may be ended upon ninety (90) days' written notice.") == {("90", "day")}
    assert notice_durations("with notice of at least 6 months") == {("6", "month")}
    assert notice_durations(invoice) == set()
    # the renewal term beside the notice is refused; the notice itself is shown
    assert check_answer("one (1) year", question, Context([both], 0.6, [both]), settings)[0] == \
        "the sentence the answer comes from does not give it as notice"
    assert check_answer("thirty (30) days", question, Context([both], 0.6, [both]), settings) == \
        ("", "thirty (30) days")
    topic = "How much notice is needed to stop the between and from renewing?"
    assert pick_quote([invoice, both], question, topic) == both
    assert pick_quote([invoice], question, topic) == ""  # an invoice's term is no notice: refuse
    # a question that asks for no notice is not held to it
    renewal = "How long is each renewal term of the Supply Agreement?"
    assert check_answer("one (1) year", renewal, Context([both], 0.6, [both]), settings) == ("", "one (1) year")


def test_a_term_is_not_answered_with_the_notice_beside_it(settings):
    from core.answer import Context, check_answer
    from core.citations import notice_durations

    renewal = "How long is each renewal term of the Supply Agreement between Acme and Beta?"
    sentence = ("This Agreement shall renew for successive one (1) year terms unless written notice is "
                "given ninety (90) days prior to the end of the term.")
    context = Context([sentence], 0.6, [sentence])
    assert check_answer("ninety (90) days", renewal, context, settings)[0] == \
        "the answer is the notice period, not the term"
    assert check_answer("90 days", "How long is the initial term of the Supply Agreement?", context,
                        settings)[0] == "the answer is the notice period, not the term"
    assert check_answer("one (1) year", renewal, context, settings) == ("", "one (1) year")
    # read strictly: a term a notice word follows a few words on is still a term ...
    assert notice_durations(sentence, strict=True) == {("90", "day")}
    assert ("1", "year") in notice_durations(sentence)  # (the looser reading a notice question uses)
    # ... and a question about notice still gets its notice
    notice = "How much notice is needed to stop the Supply Agreement between Acme and Beta from renewing?"
    assert check_answer("ninety (90) days", notice, context, settings) == ("", "ninety (90) days")


def test_a_shortened_date_is_widened_to_the_whole_date_its_sentence_states():
    from core.citations import whole_date

    sentence = "This Agreement is made this 11th day of December, 2015 by and between Acme and Beta."
    assert whole_date("December, 2015", sentence) == "11th day of December, 2015"
    assert whole_date("2015", sentence) == "11th day of December, 2015"
    assert whole_date("1997", "It is made as of December 19, 1997 between them.") == "December 19, 1997"
    assert whole_date("2006", "Executed on the 1st day of JUNE , 2006 , in Texas.") == "1st day of JUNE , 2006"
    assert whole_date("2006", "It was signed in 2006 in Texas.") == "2006"  # no whole date: the span as it was
    assert whole_date("March 2020", "Signed on June 3, 2020.") == "March 2020"  # another date: not this answer's


def test_a_span_completes_the_brackets_and_quotes_it_opens_or_closes():
    from core.citations import _balanced, answer_span

    def balanced(span: str, sentence: str) -> str:
        start = sentence.find(span)
        start, end = _balanced(sentence, start, start + len(span))
        return sentence[start:end]

    # words are letters and digits: a span can start or end inside brackets or quotes
    assert balanced("VNUE INC (the \u201cSponsor", "between VNUE INC (the \u201cSponsor\u201d) and Acme.") == \
        "VNUE INC (the \u201cSponsor\u201d)"
    assert balanced("to \u201csingle digit", "still birth rate to \u201csingle digit\u201d by 2025.") == \
        "to \u201csingle digit\u201d"
    assert balanced('FNW") and MERCATA', 'LLC ("FNW") and MERCATA, Inc.') == '("FNW") and MERCATA'
    assert balanced("2007) showed", "Smith et al. (2007) showed that") == "(2007) showed"
    assert balanced("a (b) c", "x a (b) c y") == "a (b) c"  # balanced already: as it was
    # one bracket closed without opening and another opened without closing: a net count of
    # zero, yet both halves are missing
    assert balanced("IL-1b), IL-6 and TNF (50", "kinins (IL-1b), IL-6 and TNF (50) (51).") == \
        "(IL-1b), IL-6 and TNF (50)"
    assert balanced("b) c (d", "a (b) c (d) e") == "(b) c (d)"
    # the other half a few words away: "Date”), by and between" began inside "(the “Effective Date”)"
    sentence = "This Agreement (the \u201cEffective Date\u201d), by and between Acme LLC (\u201cCarrier\u201d) and B."
    assert balanced("Date\u201d), by and between Acme LLC", sentence) == \
        "(the \u201cEffective Date\u201d), by and between Acme LLC"
    assert balanced("AP1 (IC 50", "than AP1 (IC 50 : 6.85 nM) in cells") == "AP1 (IC 50 : 6.85 nM)"
    far = "a (" + "x " * 60 + "y) z"  # beyond reach: as it was
    assert balanced("y) z", far) == "y) z"
    # a contract writes a number twice: "1) year" is "one (1) year"
    assert answer_span("1 year", "the term renews for one (1) year unless terminated",
                       "How long is the renewal term?")[0] == "one (1) year"


def test_a_quantity_keeps_its_qualifier_and_its_interval_but_not_a_citation():
    from core.citations import answer_span, whole_quantity

    r0 = "Across all countries we estimate reproduction numbers of around 3.87 [3.01-4.66], in line with others."
    assert whole_quantity("3.87", r0) == "around 3.87 [3.01-4.66]"
    mean = "The delay was estimated to have a mean of 5.8 days (95% CI: 4.3-7.5) in 45 patients."
    assert whole_quantity("5.8 days (95% CI: 4.3-7.5)", mean) == "a mean of 5.8 days (95% CI: 4.3-7.5)"
    assert whole_quantity("81%", "Up to 81% of deaths occur at home.") == "Up to 81%"
    # how often, not how long: "2 to 4 years" alone answers "How frequently do outbreaks peak?" wrong
    peaks = "Pertussis outbreaks peak every 2 to 4 years."
    assert whole_quantity("2 to 4 years", peaks, "How frequently do outbreaks peak?") == "every 2 to 4 years"
    assert whole_quantity("6 months", "Boosters are given once every 6 months.", "How often are boosters given?") \
        == "once every 6 months"
    # a question of how long keeps the term: "How long is each renewal term?" -> "ten (10) year"
    assert whole_quantity("ten (10) year", "It renews for every ten (10) year period.",
                          "How long is each renewal term?") == "ten (10) year"
    assert whole_quantity("thirty (30) days", "on not less than thirty (30) days notice") == \
        "not less than thirty (30) days"
    assert whole_quantity("2003", "SARS emerged in 2003 [6].") == "2003"  # a citation is no interval
    assert whole_quantity("5 days", "a delay of 5 days [2, 5] and") == "5 days"
    assert whole_quantity("Acme Inc.", "about Acme Inc. (the Company)") == "Acme Inc."  # no number: as it was
    assert whole_quantity("12 months", "for 12 months after the date") == "12 months"  # "after" qualifies no amount
    # the smaller unit that completes an amount is part of it; another count is not
    price = "The unit price of one box of gloves is 14 euros and 20 cents."
    assert whole_quantity("14 euros", price) == "14 euros and 20 cents"
    assert whole_quantity("fourteen euros", "fourteen euros and twenty cents") == "fourteen euros and twenty cents"
    assert whole_quantity("2 years", "It lasts 2 years and 6 months.") == "2 years and 6 months"
    assert whole_quantity("1 hour", "It took 1 hour, 20 minutes.") == "1 hour, 20 minutes"
    assert whole_quantity("3 patients", "3 patients and 5 days later") == "3 patients"
    assert whole_quantity("10 days", "10 days and 10 days") == "10 days"  # not a smaller unit
    assert whole_quantity("2.5", "from the existing 1.15%\nto 2.5 % by 2025.") == "2.5 %"  # a spaced percent sign
    # a number's percent sign is part of it
    assert answer_span("5606 (49.2", "Of these, 5606 (49.2%) cases were mild.", "How many were mild?")[0] == \
        "5606 (49.2%)"


def test_replay_feeds_a_report_generations_back_through_the_answer_checks(settings, tmp_path):
    """benchmarks.replay: the same model text, checked by the code as it is now; an
    answer the checks refuse, or one that differs from the report's, is listed."""
    from dataclasses import replace

    from benchmarks.replay import replay

    three_contracts(settings)
    question = "Which law governs the agreement between Zephyr Foods and Quorum Logistics?"
    dataset = tmp_path / "qa.jsonl"
    dataset.write_text(json.dumps({"id": "law", "question": question, "answers": ["Texas"]}) + "\n")
    item = {"id": "law", "mode": "rag", "question": question, "refused": False, "reason": "", "draft": "Texas",
            "answer": "Texas", "scores": {"containment": 1.0}}
    wrong = dict(item, mode="hybrid", draft="Ohio")  # a state no passage of the named contract states
    report = {"dataset": str(dataset), "items": [item, wrong]}
    summary, changed = replay(report, "contracts", ["rag", "hybrid"], replace(settings, focus_min_score=1.0))
    assert summary["rag"]["containment"]["mean"] == 1.0
    assert [c["mode"] for c in changed] == ["hybrid"], changed  # rag gave the report's answer back
    # "Ohio" fails the checks: the named contract's own sentence is quoted instead
    assert "Ohio" not in changed[0]["now"] and "Texas" in changed[0]["now"]
    assert changed[0]["reason"].startswith("quoted") and summary["hybrid"]["containment"]["mean"] == 1.0


def test_generator_dtype_auto_follows_the_cpu(monkeypatch):
    import core.config as config

    monkeypatch.setattr(config, "cpu_has_bfloat16", lambda: False)
    assert config.Settings(generator_dtype="auto").generator_dtype == "float32"
    monkeypatch.setattr(config, "cpu_has_bfloat16", lambda: True)
    assert config.Settings(generator_dtype="auto").generator_dtype == "bfloat16"
    assert config.Settings(generator_dtype="float32").generator_dtype == "float32"  # a named dtype is kept


def test_a_topic_question_gets_a_passage_that_speaks_of_the_topic(settings, monkeypatch):
    """A governing-law clause shares few words with "Which state's or country's law
    governs ...?": within the named contract, one passage holding such a clause joins
    the hits when none of the best ones does."""
    from dataclasses import replace

    import core.retrieval
    from core.citations import topic_clause
    from core.retrieval import Retriever
    from knowledge.store import Store

    question = "Which state's or country's law governs the agreement between Acme Widgets and Borealis Trading?"
    assert topic_clause(question, "This Agreement is governed by the laws of Oregon.") is True
    assert topic_clause(question, "Acme is a corporation organised under the laws of Delaware.") is False
    assert topic_clause("What is the date of the agreement?", "any text") is None  # asks about no topic
    kb = Store(settings).kb("topics", create=True)
    # every clause shares more words with the question than the governing-law clause does
    filler = "".join(f"Clause {n}. The carrier governs each loading in every state and country. Each state's and "
                     f"each country's law on shipping applies to goods shipped there. " for n in range(40))
    payment = "Payment is due within thirty days of each invoice. " * 12
    text = ("AGREEMENT\n\nThis agreement is made between Acme Widgets and Borealis Trading.\n\n" + filler
            + payment + "The laws of the State of Oregon shall govern this Agreement. " + payment)
    assert kb.ingest_bytes("supply.txt", text.encode()).ok
    assert kb.ingest_bytes("other.txt", b"AGREEMENT\n\nThis agreement is made between Zephyr Foods and Quorum.").ok
    retriever = Retriever(kb, replace(settings, focus_min_score=1.0))
    hits = retriever.search(question, k=3)
    assert retriever.focus == kb.find("supply.txt").doc_id
    assert any("Oregon" in h.chunk.text and h.ranks == {"topic": 1} for h in hits)
    assert any(h.chunk.index == 0 for h in hits)  # the opening keeps its place
    monkeypatch.setattr(core.retrieval, "topic_clause", lambda question, text: None)
    assert not any("Oregon" in h.chunk.text for h in retriever.search(question, k=3))  # by rank alone it is not there


def test_the_date_of_a_contract_is_the_one_its_opening_states(settings):
    from core.answer import date_answer
    from core.citations import asks_document_date, opening_date
    from knowledge.store import Store

    assert asks_document_date("What is the date of the Supply Agreement between Acme and Beta?")
    assert not asks_document_date("On what date does the Supply Agreement expire?")
    assert not asks_document_date("What is the date of the first cholera outbreak in Haiti?")  # no document's
    # a date in digits there is more often the filing's than the contract's
    assert opening_date("Source: ACME, 10-K, 12/19/2017. Made as of May 29, 2018; ends June 1, 2020.") == "May 29, 2018"
    assert opening_date("Source: ACME, 10-K, 12/19/2017") == ""
    kb = Store(settings).kb("dated", create=True)
    text = ("SUPPLY AGREEMENT\n\nThis Supply Agreement is made as of the 1st day of June, 2006 between Acme Widgets "
            "and Borealis Trading.\n\nThe initial term ends on July 31, 2021.")
    assert kb.ingest_bytes("supply.txt", text.encode()).ok
    doc_id = kb.find("supply.txt").doc_id
    assert date_answer("2022-01-01", kb, doc_id, text) == "1st day of June, 2006"  # a date of its own
    assert date_answer("", kb, doc_id, text) == "1st day of June, 2006"  # refused, yet the opening states it
    assert date_answer("July 31, 2021", kb, doc_id, text) == "1st day of June, 2006"  # another date
    assert date_answer("June 1, 2006", kb, doc_id, text) == ""  # the model's answer stands, however written
    assert date_answer("2022-01-01", kb, doc_id, "passages without it") == ""  # only a date they show


def test_fused_search_keeps_a_hit_that_bm25_alone_finds_far_ahead(settings, contract_pdf, tmp_path):
    """Annexes of 90 "delivers report N within M days" clauses each, and the contract's one
    invoice clause: BM25 ranks it first, far ahead; dense search ranks it below the annex
    clauses. Convex fusion (the default) keeps it first; rank fusion, which sees ranks only,
    put it under annex clauses that both retrievers ranked in the middle."""
    from dataclasses import replace

    from core.retrieval import Retriever
    from knowledge.store import Store

    kb = Store(settings).kb("legal", create=True)
    assert kb.ingest_file(contract_pdf).ok
    for n in range(3):
        annex = tmp_path / f"annex-{n}.txt"
        annex.write_text("\n".join(f"Clause {n}.{c}: the contractor delivers report {n * 1000 + c} within "
                                   f"{c % 20 + 3} days of the request." for c in range(90)), encoding="utf-8")
        assert kb.ingest_file(annex).ok
    question = "Within how many days are invoices payable?"
    assert settings.fusion == "convex"
    best = Retriever(kb, settings).search(question, k=4)[0]
    assert best.chunk.source == contract_pdf.name and "payable" in best.chunk.text
    ranked = Retriever(kb, replace(settings, fusion="rrf")).search(question, k=4)
    assert all(h.chunk.source != contract_pdf.name for h in ranked)


def test_unknown_fusion_is_refused_by_name(monkeypatch, tmp_path):
    from core.config import Settings

    monkeypatch.setenv("DOCENT_FUSION", "average")
    with pytest.raises(ValueError, match="DOCENT_FUSION must be one of convex, rrf, not 'average'"):
        Settings(data_dir=tmp_path)


def test_a_sentence_in_two_overlapping_chunks_is_cited_once():
    # US Constitution: both overlapping chunks of page 2 hold the clause, and both were cited
    from core.answer import make_sources
    from core.retrieval import Hit
    from knowledge.chunking import Chunk

    clause = "6 The Senate shall have the sole Power to try all Impeachments."
    first = "5 The Senate shall chuse their other Officers. " + clause
    second = clause + " When sitting for that Purpose, they shall be on Oath or Affirmation."
    other = "The Senate of another document shall have the sole Power to try all Impeachments."
    hits = [Hit(Chunk(first, "c.pdf", "c", 2, 0, len(first)), 1.0, 0.6),
            Hit(Chunk(second, "c.pdf", "c", 2, 40, 40 + len(second), index=1), 0.9, 0.5),
            Hit(Chunk(other, "d.pdf", "d", 1, 0, len(other)), 0.8, 0.4)]
    sources = make_sources("The Senate shall have the sole Power to try all Impeachments.", "Who tries impeachments?",
                           hits, refused=False)
    cited = [(s.doc_id, s.sentence) for s in sources if s.cited]
    assert cited.count(("c", clause)) == 1 and ("d", other) in cited  # another document's sentence stays cited
    assert len(sources) == 3  # the passage is still listed, uncited
    # an abstract repeats the body's sentence, spaced otherwise (COVID-QA): cited once too
    body = "In the earliest phase the basic reproductive number was estimated to be around 2.2 [2] ."
    abstract = "Abstract: In the earliest phase the basic reproductive number was estimated to be around 2.2 [2]."
    hits = [Hit(Chunk(body, "a.txt", "a", 1, 900, 900 + len(body), index=3), 1.0, 0.6),
            Hit(Chunk(abstract, "a.txt", "a", 1, 0, len(abstract)), 0.9, 0.5)]
    sources = make_sources("around 2.2", "What is the basic reproduction number?", hits, refused=False)
    assert sum(s.cited for s in sources) == 1


def test_a_quote_cut_by_its_chunk_is_read_whole_from_its_page(settings, tmp_path):
    # CUAD: a governing-law quote began "the State of California without giving effect ...",
    # its first words in the chunk before (chunks break at any line of a PDF page)
    from dataclasses import replace

    from core.answer import Context, whole_quote
    from core.retrieval import Hit
    from core.text import sentence_spans
    from knowledge.store import Store

    law = ("7.2 This Agreement shall be governed by and construed in accordance with the laws of\n"
           "the State of California without giving effect to any conflict of laws principles.")
    text = "Each party shall keep the other's information confidential for three years.\n" + law + "\n" + \
           "Notices shall be sent by registered mail to the addresses above.\n"
    path = tmp_path / "contract.txt"
    path.write_text(text)
    kb = Store(replace(settings, chunk_size=160, chunk_overlap=0)).kb("legal", create=True)
    kb.ingest_file(path)
    chunk = next(c for c in kb.chunks_of(kb.documents()[0].doc_id) if c.text.startswith("the State of California"))
    start, end = sentence_spans(chunk.text)[0]
    context = Context([chunk.text], 0.6, [chunk.text[start:end]], [(0, start, end)])
    assert whole_quote(kb, [Hit(chunk, 1.0)], context, 0) == " ".join(law[4:].split())  # whole, without "7.2"
    # a line the chunk before ends with stays its own sentence (COVID-QA: "License: cc-by")
    article = tmp_path / "article.txt"
    article.write_text("License: cc-by\nThe virus spreads in winter because people gather indoors in dry air and "
                       "close windows, and it spreads much less in the warm summer months of every year.")
    kb.ingest_file(article)
    opening = next(c for c in kb.chunks_of(kb.find("article.txt").doc_id) if c.text.startswith("The virus"))
    start, end = sentence_spans(opening.text)[0]
    context = Context([opening.text], 0.6, [opening.text[start:end]], [(0, start, end)])
    assert whole_quote(kb, [Hit(opening, 1.0)], context, 0).startswith("The virus spreads")
    # without origins (a context made by hand), the sentence is shown as it is
    whole = Context([chunk.text], 0.6, ["Notices shall be sent by registered mail to the addresses above."])
    assert whole_quote(kb, [Hit(chunk, 1.0)], whole, 0) == whole.sentences[0]


def test_a_sentence_without_the_answers_number_is_not_cited():
    # the browser test's contract: "seven years" cited the late-payment clause for its "per year"
    from core.answer import make_sources
    from core.retrieval import Hit
    from knowledge.chunking import Chunk

    term = "This Agreement starts on 1 March 2024 and lasts for seven years."
    interest = "Late payments carry interest of four percent per year."
    hits = [Hit(Chunk(term, "c.pdf", "c", 2, 0, len(term)), 1.0, 0.66),
            Hit(Chunk(interest, "c.pdf", "c", 3, 0, len(interest), index=1), 0.5, 0.11)]
    sources = make_sources("seven years", "How long does the agreement last?", hits, refused=False)
    assert [s.sentence for s in sources if s.cited] == [term]


def test_reference_marks_are_not_part_of_an_answer():
    """An article's "[5]" points into a bibliography the reader does not have, and its digit
    would pass for the number a "how many" question asks; the parenthesis a reference leaves
    empty goes with it. A contract's "(1)" and "2(a)" stay."""
    from core.citations import strip_citation_marks

    assert strip_citation_marks("about 250,000 to 500,000 deaths [5]") == "about 250,000 to 500,000 deaths"
    assert strip_citation_marks("safe by the FDA (GRAS) (reviewed in [19] )") == "safe by the FDA (GRAS)"
    assert strip_citation_marks("two doses [5, 6] or three [7-9].") == "two doses or three."
    assert strip_citation_marks("as the TIV [4, 9] , there is") == "as the TIV, there is"
    assert strip_citation_marks("one (1) year under Section 2(a) ( )") == "one (1) year under Section 2(a) ( )"


def test_a_span_loses_the_article_reference(settings):
    """The model's "3 to 5 million" took in the article's "[5]" after "deaths"."""
    from core.answer import Context, check_answer

    sentence = ("Seasonal influenza results in about 3 to 5 million cases of severe illness, and about 250,000 to "
                "500,000 deaths [5] .")
    context = Context(passages=[sentence], relevance=0.9, sentences=[sentence])
    reason, shown = check_answer("3 to 5 million cases of severe illness, and about 250,000 to 500,000 deaths",
                                 "What is the yearly burden of seasonal influenza?", context, settings)
    assert (reason, shown) == ("", "about 3 to 5 million cases of severe illness, and about 250,000 to 500,000 deaths")


def test_a_quote_comes_from_a_document_that_mentions_what_the_question_names(settings):
    """"How is a vacancy in the Senate filled?" quoted the ICJ Statute's vacancy rule, the
    best match by words, where the Constitution's passage beside it names the Senate."""
    from core.answer import quote_index
    from core.retrieval import Retriever
    from knowledge.store import Store

    kb = Store(settings).kb("vacancies", create=True)
    statute = "Statute of the Court\n\nVacancies shall be filled by the same method as that laid down for the election."
    constitution = ("Constitution\n\nWhen vacancies happen in the representation of any State in the Senate, the "
                    "executive authority of such State shall issue writs of election to fill such vacancies.")
    for name, text in (("statute.txt", statute), ("constitution.txt", constitution)):
        assert kb.ingest_bytes(name, text.encode()).ok
    retriever = Retriever(kb, settings)
    retriever.search("How is a vacancy in the Senate filled?")
    ids = [kb.find("statute.txt").doc_id, kb.find("constitution.txt").doc_id]
    assert retriever.without_names("How is a vacancy in the Senate filled?", ids) == {ids[0]}
    assert retriever.without_names("How is a vacancy filled?", ids) == set()  # names nothing
    assert retriever.without_names("How is a vacancy in the Bundestag filled?", ids) == set()  # no document names it
    sentences = ["Vacancies shall be filled by the same method as that laid down for the election.",
                 "When vacancies happen in the Senate, the executive authority shall issue writs of election."]
    assert quote_index(sentences, "How is a vacancy in the Senate filled?", "") == 0
    assert quote_index(sentences, "How is a vacancy in the Senate filled?", "", frozenset({0})) == 1


def test_a_span_is_read_in_the_whole_sentence_its_chunk_cut(settings):
    """A chunk can begin inside a sentence ("... terminate upon ninety" | "(90) days written
    notice ..."): a quote was read whole from the page, a span was not, and the answer began
    "(90) days". With the sentence as its page writes it the span is "ninety (90) days"."""
    from core.answer import Context, check_answer

    cut = "(90) days written notice to the other party."
    whole = "Either party may terminate this Agreement upon ninety\n(90) days written notice to the other party."
    context = Context(passages=[cut], relevance=0.9, sentences=[cut])
    question = "How much notice is needed to terminate the Agreement?"
    assert check_answer("90 days", question, context, settings) == ("", "(90) days")
    assert check_answer("90 days", question, context, settings, whole=lambda at: whole) == ("", "ninety (90) days")


def test_a_link_text_is_not_quoted():
    """A CDC page saved as an article: "What are the most common symptoms of COVID-19?"
    quoted its link "Learn more about the symptoms associated with COVID-19."."""
    from core.answer import quote_index

    sentences = ["Learn more about the symptoms associated with COVID-19.",
                 "Reported symptoms of COVID-19 include fever, cough and shortness of breath."]
    assert quote_index(sentences, "What are the most common symptoms of COVID-19?", "common symptoms COVID-19") == 1
