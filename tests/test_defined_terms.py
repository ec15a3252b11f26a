"""A contract's defined terms and the names they stand for (core.defined_terms)."""

from core.defined_terms import definitions, name_the_terms

PREAMBLE = ("This Manufacturing Agreement, including the Exhibits (“Agreement”), effective as of September 4, 2014 "
            "(“Effective Date”), is by and between Sonos, Inc., a Delaware corporation, having its principal offices "
            "at 223 E. De La Guerra Street, Santa Barbara, CA, 93101, USA (“Sonos”), and Inventec Appliances "
            "Corporation, having principal offices at 37, Wugong 5th Road, New Taipei City, Taiwan (“IAC”). "
            "IAC will each appoint at least one Program Manager (“Program Manager”). THIS AGREEMENT is made by "
            "MOSSIMO, INC., 2450 White Road, Irvine, California 92614 (\"Company\") and DAVID DUVAL ENTERPRISES, "
            "INC. c/o International Management, Inc., Cleveland, Ohio 44114 (\"Licensor\").")


def test_definitions_name_the_parties_and_leave_out_clauses_and_the_contract():
    terms = definitions(PREAMBLE)
    assert terms["sonos"] == ("Sonos", "Sonos, Inc.")
    assert terms["iac"] == ("IAC", "Inventec Appliances Corporation")
    assert terms["company"] == ("Company", "MOSSIMO, INC.")
    assert terms["licensor"] == ("Licensor", "DAVID DUVAL ENTERPRISES, INC.")
    assert "agreement" not in terms and "effective date" not in terms  # the contract and its dates are no party
    assert "program manager" not in terms  # "IAC will each appoint ..." is a clause, not a name


def test_an_answer_made_of_defined_terms_names_who_they_are():
    terms = definitions(PREAMBLE)
    question = "Who signed the Manufacturing Agreement with Sonos?"
    assert name_the_terms("both Sonos and IAC", question, terms) == "Inventec Appliances Corporation (IAC)"
    assert name_the_terms("the Company", "Who signed it with Duval?", terms) == "MOSSIMO, INC. (Company)"
    # an answer that names anything else is left as the model gave it
    assert name_the_terms("IAC of Taiwan", question, terms) == "IAC of Taiwan"
    assert name_the_terms("30 days", question, terms) == "30 days"
    assert name_the_terms("Sonos", question, terms) == "Sonos"  # the question's own party: nothing to add


def test_a_documents_terms_are_read_from_its_chunks_in_the_knowledge_base(settings):
    from core.defined_terms import document_terms
    from knowledge.store import Store

    kb = Store(settings).kb("terms", create=True)
    assert kb.ingest_bytes("manufacturing.txt", (PREAMBLE + " The parties cooperate." * 200).encode()).ok
    terms = document_terms(kb, kb.find("manufacturing.txt").doc_id)
    assert terms["iac"] == ("IAC", "Inventec Appliances Corporation") and terms["licensor"][1].startswith("DAVID")
