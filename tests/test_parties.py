"""The parties a contract's opening names (core.parties), and the answer a "Who signed
... with X?" question gets from them when the model's own answer fails."""

from core.parties import document_opening, is_asked, names_a_party, opening_parties, other_parties

JANA = ("COOPERATION AGREEMENT This Cooperation Agreement (this “Agreement”), dated March 13, 2014 is by and "
        "between JANA Partners LLC (“JANA”) and URS Corporation (the “Company”). WHEREAS, JANA owns shares.")
# No defined terms: the parties are the names around "BETWEEN ... AND ...".
TITLE = ("OUTSOURCING AGREEMENT BY AND BETWEEN TRI CITY NATIONAL BANK and MARSHALL & ILSLEY CORPORATION acting "
         "through its division M&I DATA SERVICES DATED AS OF February 16, 1998")
AMONG = ("This Endorsement Agreement is made as of August 24, 1995, by and among the following parties: (a) Kathy "
         "Ireland, Inc. (\"KI Inc.\"), 1900 Avenue of the Stars; (b) The Sterling/Winters Co. (\"SW\"); and "
         "(c) Diplomat Ambassador Eyewear Group (\"Licensee\"). WHEREAS, KI is a model.")


def test_the_opening_names_the_parties_with_their_defined_terms_or_around_between():
    assert opening_parties(JANA) == ["JANA Partners LLC", "URS Corporation"]
    assert opening_parties(TITLE) == ["TRI CITY NATIONAL BANK", "MARSHALL & ILSLEY CORPORATION"]
    assert opening_parties(AMONG) == ["Kathy Ireland, Inc.", "The Sterling/Winters Co.",
                                      "Diplomat Ambassador Eyewear Group"]
    assert opening_parties("The parties agree to cooperate in good faith.") == []  # no names: nothing made up
    # numbered parties, and a title before "(this "Agreement")" is no party
    numbered = ("This Manufacturing and Supply Agreement (this “Agreement”) is entered into by and between (1) "
                "Apollo Endosurgery, Delaware corporation having offices at 1120 S Capital of Texas Highway, "
                "Austin (“APOLLO”), and (2) Establishment Labs, S.A a corporation organized under the laws of "
                "Costa Rica (“ESTABLISHMENT”).")
    assert "Establishment Labs, S.A" in opening_parties(numbered)
    assert not any(p.endswith("Agreement") for p in opening_parties(numbered))


def test_openings_laid_out_on_separate_lines_name_every_party():
    # parties numbered without "and" between them
    numbered = ("THIS AGREEMENT is made on 1 October 2019\nBETWEEN:\n(1) WPP 2005 LIMITED (registered number "
                "01003653) whose registered office is at Sea Containers, London (the Company)\n(2) JOHN ROGERS "
                "(the Executive).\nIT IS AGREED as follows:")
    assert opening_parties(numbered) == ["WPP", "JOHN ROGERS"]
    # an address on the line after the name ("With principal offices"), a lower-case word in a name
    # that a legal form closes, three parties
    offices = ("This Agreement is made by and between:\n\nKALLO Inc.\n\nWith principal offices at 15 Allstate "
               "Parkway, Markham, Canada (“KALLO”)\n\nAND\n\nPetro data Management Services Limited.,\n\nWith "
               "principal offices at 1 Motorways Avenue, Lagos, Nigeria (“PDMS”)\n\nAND\n\nGateway Global "
               "Fabrication Ltd.,\n\nWith principal offices at No-2 Olodu Street, Nigeria. (“Gateway”) As of the "
               "date set forth below.")
    assert opening_parties(offices) == ["KALLO Inc.", "Petro data Management Services Limited.",
                                        "Gateway Global Fabrication Ltd."]
    # "between" spaced out, "- and -", and what follows the last party ("the United States") is no party
    spaced = ("THIS AGREEMENT made in duplicate this 20 day of November, 1995.\nB E T W E E N:\nPUROLATOR COURIER "
              "LTD.\n(\"Purolator\")\n\n- and -\nPARCELWAY COURIER SYSTEMS CANADA LTD.\na subsidiary of Dynamex "
              "Inc.\n(\"Dynamex\")\nWHEREAS Purolator is licensed across Canada and the United States of America;")
    assert opening_parties(spaced) == ["PUROLATOR COURIER LTD.", "PARCELWAY COURIER SYSTEMS CANADA LTD."]
    # a party described before its address keeps the next party ("AND: HOCHSCHILD ...")
    described = ("BETWEEN:\nGOLD RESOURCE CORPORATION, a company organized under the laws of the State of Colorado, "
                 "with registered office located at 222 Milwaukee Street, Denver (“GRC”)\nAND:\nHOCHSCHILD MINING "
                 "HOLDINGS LIMITED, a private limited company, with registered office located at 46 Albemarle "
                 "Street, London (“HOC”)\nWHEREAS:")
    assert opening_parties(described) == ["GOLD RESOURCE CORPORATION", "HOCHSCHILD MINING HOLDINGS LIMITED"]


def test_the_question_names_a_party_by_most_of_its_words_after_with():
    question = "Who signed the Cooperation Agreement with JANA Partners?"
    assert is_asked("JANA Partners LLC", question)  # "LLC" says what kind of body, not which
    assert not is_asked("URS Corporation", question)
    assert other_parties(JANA, question) == ["URS Corporation"]
    # "Services" of the agreement's title is no party's name
    services = "Who signed the Amendment to Services Agreement with Federated Investment Management?"
    assert not is_asked("FEDERATED ADVISORY SERVICES COMPANY", services)
    assert is_asked("FEDERATED INVESTMENT MANAGEMENT COMPANY", services)
    assert is_asked("Reed’s, Inc.", "Who signed the Recipe Development Agreement with Reed's?")  # ’ is '


def test_an_answer_names_a_party_by_a_distinctive_word():
    assert names_a_party("URS Corp.", ["URS Corporation"])
    assert not names_a_party("Matthew Ricciardi", ["URS Corporation"])  # a signatory is no party
    assert not names_a_party("the Company", ["URS Corporation"])


def test_the_opening_is_read_from_the_documents_first_chunks(settings):
    from knowledge.store import Store

    kb = Store(settings).kb("parties", create=True)
    assert kb.ingest_bytes("cooperation.txt", (JANA + " The parties cooperate in good faith." * 200).encode()).ok
    opening = document_opening(kb, kb.find("cooperation.txt").doc_id)
    assert opening.startswith("COOPERATION AGREEMENT") and 2000 <= len(opening) <= 4000
    assert other_parties(opening, "Who signed the Cooperation Agreement with URS?") == ["JANA Partners LLC"]


def test_a_who_signed_answer_that_names_no_other_party_gets_them_from_the_opening(settings):
    from core.answer import party_answer
    from knowledge.store import Store

    kb = Store(settings).kb("parties-answer", create=True)
    assert kb.ingest_bytes("cooperation.txt", (JANA + " The parties cooperate in good faith." * 200).encode()).ok
    doc_id = kb.find("cooperation.txt").doc_id
    question = "Who signed the Cooperation Agreement with JANA Partners?"
    assert party_answer("JANA Partners LLC", False, question, kb, doc_id) == "URS Corporation"  # the question's own
    assert party_answer("Matthew Ricciardi", False, question, kb, doc_id) == "URS Corporation"  # a signatory
    assert party_answer("", True, question, kb, doc_id) == "URS Corporation"  # refused, yet the opening says
    assert party_answer("URS Corp.", False, question, kb, doc_id) == ""  # the model's answer stands
    assert party_answer("", True, "Who signed the Cooperation Agreement with JANA Partners and URS?", kb,
                        doc_id) == ""  # the question names both: nothing to add
