"""Fine-tuning: training data from each source, LoRA training with a tiny random model
(loss falls, checkpoints, cancel, kill and resume), the registry and its base-model
check; one run with the real SmolLM2 for the fine-tuned and hybrid modes."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

import pytest

from adapters import train as training
from adapters.datasets import (
    IDK,
    Example,
    TrainingDataError,
    generate_from_kb,
    make_raft,
    read_qa_file,
    save_upload,
    write_examples,
)
from adapters.registry import AdapterError, activate_adapter, delete_adapter, get_adapter, list_adapters
from core.retrieval import Retriever
from knowledge.store import Store

FACTS = [("What colour is the sky on Zorba?", "green"), ("Who founded Zorba city?", "Queen Talia"),
         ("How many moons does Zorba have?", "seven"), ("What do Zorbans drink?", "blue tea")]


@pytest.fixture
def qa_file(tmp_path) -> Path:
    examples = [Example(q, a, f"z{i}") for i, (q, a) in enumerate(FACTS * 4)]
    path = tmp_path / "zorba.jsonl"
    write_examples(examples, path)
    return path


def tiny_config(tiny_model: Path, data: Path, name: str = "zorba", **kw) -> training.TrainConfig:
    defaults = dict(base_model="tiny-llama", model_path=str(tiny_model), learning_rate=3e-2, batch_size=4,
                    max_steps=30, checkpoint_every=5, rank=8, alpha=16, dropout=0.0,
                    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    return training.TrainConfig(name=name, data=str(data), **{**defaults, **kw})


# --- training data ----------------------------------------------------------------------

def test_qa_pairs_from_jsonl_and_csv(tmp_path):
    (tmp_path / "qa.csv").write_text("question,answer,note\nWhat is ORS?,Oral rehydration salts,x\n"
                                     "Dose for adults?,75 ml/kg,y\n")
    examples = read_qa_file(tmp_path / "qa.csv")
    assert [(e.question, e.answer) for e in examples] == [("What is ORS?", "Oral rehydration salts"),
                                                          ("Dose for adults?", "75 ml/kg")]
    (tmp_path / "qa.jsonl").write_text(json.dumps({"question": "Q?", "answer": ["A1", "A2"]}) + "\n")
    assert read_qa_file(tmp_path / "qa.jsonl")[0].answer == "A1"


def test_bad_rows_are_reported_with_line_numbers(tmp_path):
    (tmp_path / "bad.jsonl").write_text(json.dumps({"question": "fine?", "answer": "yes"}) + "\n{broken json\n"
                                        + json.dumps({"question": "no answer?", "answer": ""}) + "\n"
                                        + json.dumps(["not", "an", "object"]) + "\n")
    with pytest.raises(TrainingDataError) as err:
        read_qa_file(tmp_path / "bad.jsonl")
    message = str(err.value)
    assert "3 bad row(s)" in message and "line 2: not valid JSON" in message
    assert "line 3: empty answer" in message and "line 4" in message
    (tmp_path / "bad.csv").write_text("question,reply\nQ?,A\n")
    with pytest.raises(TrainingDataError, match="needs 'question' and 'answer' columns"):
        read_qa_file(tmp_path / "bad.csv")
    (tmp_path / "rows.csv").write_text("question,answer\nQ1?,A1\n,A2\nQ3?,\n")
    with pytest.raises(TrainingDataError, match="line 3: empty question.*line 4: empty answer"):
        read_qa_file(tmp_path / "rows.csv")


def test_qa_files_in_other_encodings_and_unreadable_ones(tmp_path):
    (tmp_path / "latin.csv").write_bytes("question,answer\nQuelle dose pour l'enfant?,Une cuillère à café\n"
                                         .encode("cp1252"))
    assert read_qa_file(tmp_path / "latin.csv")[0].answer == "Une cuillère à café"
    (tmp_path / "utf16.jsonl").write_bytes(json.dumps({"question": "Größe?", "answer": "groß"}, ensure_ascii=False)
                                           .encode("utf-16"))
    assert read_qa_file(tmp_path / "utf16.jsonl")[0].question == "Größe?"
    (tmp_path / "binary.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(TrainingDataError, match="binary.jsonl: not a text file"):
        read_qa_file(tmp_path / "binary.jsonl")
    with pytest.raises(TrainingDataError, match="cannot read missing.jsonl"):
        read_qa_file(tmp_path / "missing.jsonl")


def test_uploaded_qa_files_stay_in_the_data_folder(settings, tmp_path):
    folder = settings.uploads_dir / "training"
    data = (json.dumps({"question": "Q?", "answer": "A"}) + "\n").encode()
    assert save_upload(settings, "../../../evil.jsonl", data) == folder / "evil.jsonl"
    assert save_upload(settings, "week\n1\x00.csv", b"question,answer\nQ?,A\n") == folder / "week 1.csv"
    long = save_upload(settings, "q" * 300 + ".jsonl", data)
    assert long.parent == folder and len(long.name) <= 200 and long.suffix == ".jsonl"
    assert read_qa_file(folder / "evil.jsonl")[0].answer == "A"
    with pytest.raises(TrainingDataError, match="must be JSONL or CSV"):
        save_upload(settings, "..", data)
    with pytest.raises(TrainingDataError, match="limit is 0.0001 MB"):
        save_upload(replace(settings, max_upload_mb=0.0001), "big.jsonl", data * 100)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert all(str(p).startswith("data/uploads/training/") for p in written), written
    assert not [p for p in written if p.name.startswith(".upload-")]  # no temporary files left


def test_pairs_generated_from_a_knowledge_base_keep_their_chunk(settings, contract_pdf):
    kb = Store(settings).kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    examples = generate_from_kb(kb, settings, limit=2)
    assert examples, "the generator wrote no usable question"
    for ex in examples:
        assert ex.question.endswith("?") and ex.answer in ex.source["text"]
        assert ex.source["file"] == "supply_contract.pdf" and ex.source["page"] in (1, 2, 3)


def test_raft_examples_cite_the_oracle_or_say_they_do_not_know(settings, contract_pdf):
    kb = Store(settings).kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    examples = [Example("How long does the agreement last?", "seven years"),
                Example("Within how many days are invoices payable?", "forty five days"),
                Example("What interest do late payments carry?", "four percent per year")]
    raft = make_raft(examples, kb, settings, drop_oracle=0.0)
    assert raft and all(e.style == "raft" and e.passages for e in raft)
    for ex in raft:
        n = int(ex.answer.rsplit("[", 1)[1].rstrip("]"))
        assert ex.answer.split(" [")[0].lower() in ex.passages[n - 1].lower()  # the cited passage holds it
    dropped = make_raft(examples, kb, settings, drop_oracle=1.0)
    assert dropped and all(e.answer == "I don't know." for e in dropped)
    assert all("seven years" not in " ".join(e.passages) for e in dropped if "last" in e.question)


def test_raft_adds_the_oracles_answer_sentence_when_the_chosen_ones_miss_it(settings, contract_pdf,
                                                                              context_without_seven):
    """The oracle passage is retrieved but its chosen sentences miss the answer: the
    question is skipped, or with oracle_sentence the sentence that states it is added."""
    kb = Store(settings).kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    question = [Example("How long does the agreement last?", "seven years")]
    assert make_raft(question, kb, settings, drop_oracle=0.0) == []
    [example] = make_raft(question, kb, settings, drop_oracle=0.0, oracle_sentence=True)
    words, n = example.answer.rsplit(" [", 1)
    assert "seven" in words.lower() and words.lower() in example.passages[int(n.rstrip("]")) - 1].lower()


def test_raft_puts_the_source_chunk_among_the_passages_when_retrieval_misses_it(settings, contract_pdf, pump_note):
    """Retrieval finds the contract, not the note that answers: the example says "I don't
    know.", or with oracle_passage the note's chunk takes one of the retrieved places and
    the target cites it. No source, no chunk: unchanged."""
    settings = replace(settings, top_k=2)
    kb = Store(settings).kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    kb.ingest_file(pump_note)
    question = Example("How long does the agreement last?", "nine years", source={"file": "pump_note.txt"})
    assert "nine years" not in " ".join(h.chunk.text for h in Retriever(kb, settings).search(question.question))
    [without] = make_raft([question], kb, settings, drop_oracle=0.0)
    assert without.answer == "I don't know." and not any("pump" in p for p in without.passages)
    [example] = make_raft([question], kb, settings, drop_oracle=0.0, oracle_passage=True)
    words, n = example.answer.rsplit(" [", 1)
    assert words == "nine years" and "nine years" in example.passages[int(n.rstrip("]")) - 1]
    assert len(example.passages) == 2 and any("seven" in p for p in example.passages)  # a distractor stays
    unknown = [replace(question, source={}), replace(question, source={"file": "missing.txt"})]
    assert [e.answer for e in make_raft(unknown, kb, settings, drop_oracle=0.0, oracle_passage=True)] == [IDK, IDK]


def test_reasoned_raft_target_quotes_the_sentence_then_answers():
    """with_reason: the cited passage's sentence that holds the answer, its mark, then the
    answer; "I don't know." and targets that cite nothing stay as they are."""
    from adapters.datasets import REASON_MARK, with_reason
    from core.answer import split_reason

    passages = ["Bananas are yellow.", "The pump is serviced yearly. The agreement lasts  seven years from signing."]
    example = Example("How long does the agreement last?", "seven years [2]", style="raft", passages=passages)
    reasoned = with_reason(example)
    assert reasoned.answer == f"The agreement lasts seven years from signing. [2]{REASON_MARK}seven years"
    assert split_reason(reasoned.answer) == ("The agreement lasts seven years from signing.", "seven years")
    for unchanged in (replace(example, answer=IDK), replace(example, answer="seven years"),
                      replace(example, answer="seven years [3]")):  # no third passage
        assert with_reason(unchanged) == unchanged
    assert split_reason("seven years [2]") == ("", "seven years [2]")  # an adapter that answers directly
    assert split_reason("Answer: seven years") == ("", "seven years")  # the quote skipped
    assert split_reason("Answer: 2008\nAnswer: seven years")[1] == "seven years"  # the mark said twice


def test_an_adapter_trained_on_reasoned_targets_is_known_by_its_data(settings, tiny_model, tmp_path):
    from adapters.datasets import with_reason
    from adapters.registry import adapter_reasons

    passages = ["The agreement lasts seven years.", "Bananas are yellow."]
    plain = [Example("How long does the agreement last?", "seven years [1]", f"r{i}", "raft", passages)
             for i in range(4)]
    for name, examples, reasons in (("direct", plain, False), ("reasoned", [with_reason(e) for e in plain], True)):
        data = tmp_path / f"{name}.jsonl"
        write_examples(examples, data)
        config = tiny_config(tiny_model, data, name=name, style="raft", max_steps=1)
        info = training.run(training.new_run(config, settings), settings)
        assert adapter_reasons(info) is reasons


def test_hybrid_answers_with_the_sentence_where_its_training_answers_are_sentences(settings, tiny_model, tmp_path,
                                                                                   monkeypatch, capsys):
    """A question form is a sentence form when most of its training answers hold most of
    their sentence; hybrid then shows the sentence its span comes from, other forms the span."""
    import core.answer as answering
    from adapters.datasets import IDK, sentence_forms, with_reason
    from adapters.registry import adapter_sentence_forms
    from core.__main__ import build_parser, cmd_adapters
    from core.answer import answer

    why = "Masks work because they stop the droplets that carry the virus."
    how_long = "The agreement lasts seven years from the date of signing by both parties."
    examples = ([Example(f"Why do masks work? ({i})", "they stop the droplets that carry the virus [1]", f"w{i}",
                         "raft", [why, "Bananas are yellow."]) for i in range(6)]
                + [with_reason(Example(f"Why do masks work, {i}?", "they stop the droplets that carry the virus [2]",
                                       f"r{i}", "raft", ["Bananas are yellow.", why])) for i in range(4)]
                + [Example(f"How long does it last? ({i})", "seven years [1]", f"h{i}", "raft", [how_long])
                   for i in range(10)]
                + [Example(f"What are the terms? ({i})", f"{how_long[:-1]} [1]", f"t{i}", "raft", [how_long])
                   for i in range(9)]  # whole sentences, but too few to tell a form
                + [Example("Why is the sky blue?", IDK, "idk", "raft", ["Bananas are yellow."])] * 5)
    assert sentence_forms(examples) == {"why"}
    assert sentence_forms(examples[:9] + examples[10:]) == frozenset()  # nine "why" examples: too few
    data = tmp_path / "forms.jsonl"
    write_examples(examples, data)
    tiny = replace(settings, generator_model="tiny-llama")
    info = training.run(training.new_run(tiny_config(tiny_model, data, name="forms", style="raft", max_steps=1),
                                         tiny), tiny)
    assert adapter_sentence_forms(info) == {"why"}
    cmd_adapters(build_parser().parse_args(["adapters"]), tiny)  # the command line lists them
    assert "sentence answers for: why" in capsys.readouterr().out

    kb = Store(tiny).kb("notes", create=True)
    assert kb.ingest_bytes("notes.txt", f"{why} {how_long}".encode()).ok

    class Reader:  # stands in for the model: the words a reader would cut out of the passage
        def stream(self, messages, max_new_tokens, model=None, num_beams=1):
            yield "they stop the droplets" if "masks" in messages[-1]["content"] else "seven years"

        def count_tokens(self, text):
            return len(text.split())

    monkeypatch.setattr(answering, "get_generator", lambda _settings: Reader())
    monkeypatch.setattr(answering, "get_adapted_model", lambda _settings, _name: object())
    assert answer("Why do masks work?", mode="hybrid", kb=kb, settings=tiny, adapter="forms").text == why
    assert answer("How long does the agreement last?", mode="hybrid", kb=kb, settings=tiny,
                  adapter="forms").text == "seven years"
    # rag has no training data: its span, unless forms are named in the settings
    assert answer("Why do masks work?", mode="rag", kb=kb, settings=tiny).text == "they stop the droplets"
    named = replace(tiny, sentence_forms=frozenset({"why"}))
    assert answer("Why do masks work?", mode="rag", kb=kb, settings=named).text == why


# --- training ---------------------------------------------------------------------------

def test_training_loss_falls_and_adapter_reloads_with_peft(settings, tiny_model, qa_file):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = training.new_run(tiny_config(tiny_model, qa_file), settings)
    info = training.run(run_dir, settings)
    losses = [row["loss"] for row in training.read_progress(run_dir)]
    assert len(losses) == 30 and info.steps == 30
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5  # it learned
    assert training.read_status(run_dir)["state"] == "completed"
    assert info.held_out_loss is not None and info.data["examples"] == 16 and info.data["held_out"] == 2
    assert [a.name for a in list_adapters(settings)] == ["zorba"]

    # any peft user can load it, and it changes what the model says
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer("What colour is the sky on Zorba?", return_tensors="pt")
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        before = base(**ids).logits
        adapted = PeftModel.from_pretrained(base, info.path)
        after = adapted(**ids).logits
    assert not torch.allclose(before, after, atol=1e-4)


def test_seed_makes_a_training_run_repeatable(settings, tiny_model, qa_file):
    """The same seed gives the same adapter, bit for bit; another seed another one (its
    LoRA start, held-out split and example order): two seeds of one recipe tell its
    spread from its effect. `core train --seed` sets it."""
    from safetensors.torch import load_file

    from core.__main__ import build_parser

    def weights(name: str, seed: int) -> dict:
        info = training.run(training.new_run(tiny_config(tiny_model, qa_file, name=name, max_steps=3, seed=seed),
                                             settings), settings)
        return load_file(str(Path(info.path) / "adapter_model.safetensors"))

    first, again, other = weights("s0", 0), weights("s0-again", 0), weights("s1", 1)
    assert first.keys() == again.keys() == other.keys()
    assert all((first[k] == again[k]).all() for k in first)
    assert any(not (first[k] == other[k]).all() for k in first)
    assert build_parser().parse_args(["train", "--data", "d.jsonl", "--name", "n", "--seed", "7"]).seed == 7
    assert build_parser().parse_args(["train", "--target-modules", "q_proj, up_proj,down_proj"]).target_modules == [
        "q_proj", "up_proj", "down_proj"]


def test_a_contract_length_raft_prompt_is_learnt_whole_and_cut_ones_are_counted(settings, tiny_model, tmp_path):
    """A RAFT example with four long contract sentences (~600 tokens) is learnt with the whole
    prompt the model sees when it answers. The old limit (384 tokens) cut its instructions and
    first passages away, silently; a run now counts the examples it cuts."""
    from transformers import AutoTokenizer

    from core.__main__ import build_parser

    clause = ("The Supplier shall deliver the Products to the Purchaser's warehouse in accordance with the "
              "delivery schedule set out in Schedule B, and any delay of more than fifteen (15) business days "
              "shall entitle the Purchaser to terminate the relevant purchase order without liability. ")
    passages = [clause * 2 + "The term of this Agreement is seven years.", clause * 2, clause * 2, clause * 2]
    long = Example("How long is the term of the Agreement?", "seven years [1]", "long", "raft", passages)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    prompt, answer = training.tokenize(tokenizer, long)
    assert 384 < len(prompt) + len(answer) <= training.TrainConfig.max_length

    ids, labels = training.encode(tokenizer, long, training.TrainConfig.max_length)
    assert ids == prompt + answer and labels == [-100] * len(prompt) + answer
    cut, _ = training.encode(tokenizer, long, 384)
    assert len(cut) == 384 and cut[-len(answer):] == answer and cut[:10] != prompt[:10]  # the front is gone

    short = Example("How long is the term?", "seven years [1]", "short", "raft", ["The term is seven years."])
    data = tmp_path / "raft.jsonl"
    write_examples([long, short] * 5, data)
    for name, limit, expected in (("fits", training.TrainConfig.max_length, 0), ("cut", 384, 5)):
        run_dir = training.new_run(tiny_config(tiny_model, data, name=name, style="raft", max_steps=1,
                                               held_out=0.0, max_length=limit), settings)
        training.run(run_dir, settings)
        assert training.read_status(run_dir)["cut_examples"] == expected
    assert build_parser().parse_args(["train", "--max-length", "512"]).max_length == 512
    with pytest.raises(TrainingDataError, match="at least 32 tokens"):
        training.new_run(tiny_config(tiny_model, data, name="tiny", max_length=8), settings)
    assert build_parser().parse_args(["train"]).max_length == training.TrainConfig.max_length


def test_training_uses_the_torch_threads_setting(settings, tiny_model, qa_file):
    """DOCENT_TORCH_THREADS reaches a training run (it did not: every run used one thread)."""
    def threads(run_dir: Path) -> int:
        return json.loads((run_dir / "config.json").read_text())["threads"]

    two = replace(settings, torch_threads=2)
    assert threads(training.new_run(tiny_config(tiny_model, qa_file, name="two"), two)) == 2
    assert threads(training.new_run(tiny_config(tiny_model, qa_file, name="one"), settings)) == settings.torch_threads
    assert threads(training.new_run(tiny_config(tiny_model, qa_file, name="three", threads=3), settings)) == 3


def test_adapter_refused_on_another_base_model(settings, tiny_model, qa_file):
    training.run(training.new_run(tiny_config(tiny_model, qa_file, max_steps=2), settings), settings)
    with pytest.raises(AdapterError, match="trained on 'tiny-llama', but the configured base model is "
                                           "'HuggingFaceTB/SmolLM2-135M-Instruct'"):
        get_adapter(settings, "zorba")  # settings name SmolLM2
    tiny = replace(settings, generator_model="tiny-llama")
    assert activate_adapter(tiny, "zorba").name == "zorba"
    delete_adapter(tiny, "zorba")
    assert list_adapters(tiny) == []
    with pytest.raises(AdapterError, match="no adapter named"):
        get_adapter(tiny, "zorba")


def test_adapter_folder_made_for_another_base_model(settings, tiny_model, qa_file):
    """A folder whose docent.json claims the configured model but whose weights were
    made for another one (copied by hand), and a peft folder from elsewhere: both
    refused with both model names, never a traceback from deep inside peft."""
    import shutil

    from core.models import get_adapted_model

    info = training.run(training.new_run(tiny_config(tiny_model, qa_file, max_steps=1), settings), settings)
    meta = Path(info.path) / "docent.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "base_model": settings.generator_model}))
    with pytest.raises(AdapterError) as err:
        get_adapted_model(settings, "zorba")
    assert f"does not fit the base model '{settings.generator_model}'" in str(err.value)
    assert f"it was made for '{tiny_model}'" in str(err.value)

    foreign = settings.adapters_dir / "downloaded"
    shutil.copytree(info.path, foreign)
    (foreign / "docent.json").unlink()
    with pytest.raises(AdapterError) as err:
        get_adapter(settings, "downloaded")
    assert f"made outside Docent, for the base model '{tiny_model}'" in str(err.value)
    assert f"configured base model is '{settings.generator_model}'" in str(err.value)


def test_damaged_adapter_metadata_is_named(settings, tiny_model, qa_file):
    info = training.run(training.new_run(tiny_config(tiny_model, qa_file, max_steps=1), settings), settings)
    (Path(info.path) / "docent.json").write_text('{"name": "zorba", "base_mo')  # cut off mid-write
    with pytest.raises(AdapterError, match="adapter 'zorba' is damaged: its docent.json cannot be read"):
        get_adapter(settings, "zorba")
    assert list_adapters(settings) == []  # listing skips it instead of failing


def test_cancel_keeps_a_checkpoint_and_resume_finishes(settings, tiny_model, qa_file):
    run_dir = training.new_run(tiny_config(tiny_model, qa_file, max_steps=12), settings)
    original = training._save_checkpoint
    calls = []

    def save_then_cancel(model, optimizer, step, elapsed, run_dir_):
        original(model, optimizer, step, elapsed, run_dir_)
        calls.append(step)
        training.cancel(run_dir_)  # as if an admin pressed Stop right after a checkpoint

    training._save_checkpoint = save_then_cancel
    try:
        assert training.run(run_dir, settings) is None
    finally:
        training._save_checkpoint = original
    assert training.read_status(run_dir)["state"] == "cancelled"
    assert list_adapters(settings) == []  # nothing half-trained is registered
    info = training.run(run_dir, settings)
    assert info.steps == 12 and [r["step"] for r in training.read_progress(run_dir)][-1] == 12


def test_killed_training_registers_nothing_then_resumes(settings, tiny_model, qa_file, monkeypatch):
    monkeypatch.setenv("DOCENT_DATA_DIR", str(settings.data_dir))
    run_dir = training.new_run(tiny_config(tiny_model, qa_file, max_steps=400, checkpoint_every=5), settings)
    pid = training.start_in_background(run_dir)
    deadline = time.time() + 240
    while time.time() < deadline and training.read_status(run_dir).get("step", 0) < 12:
        time.sleep(0.2)
    assert training.read_status(run_dir).get("step", 0) >= 12, (run_dir / "log.txt").read_text()[-2000:]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert training.read_status(run_dir)["state"] == "interrupted"
    assert list_adapters(settings) == []
    checkpoint_step = __import__("torch").load(run_dir / "checkpoint" / "state.pt", weights_only=False)["step"]
    assert checkpoint_step >= 10
    # resume: shorten the run so the test stays fast; it continues from the checkpoint
    config = json.loads((run_dir / "config.json").read_text())
    (run_dir / "config.json").write_text(json.dumps({**config, "max_steps": checkpoint_step + 3}))
    info = training.run(run_dir, settings)
    assert info.steps == checkpoint_step + 3
    steps = [r["step"] for r in training.read_progress(run_dir)]
    assert steps[-3:] == [checkpoint_step + 1, checkpoint_step + 2, checkpoint_step + 3]
    discard_dir = training.new_run(tiny_config(tiny_model, qa_file, name="other", max_steps=1), settings)
    training.discard(discard_dir)
    assert not discard_dir.exists()


def test_train_refuses_bad_data_and_taken_names(settings, tiny_model, qa_file, tmp_path):
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    with pytest.raises(TrainingDataError, match="line 1"):
        training.new_run(tiny_config(tiny_model, tmp_path / "bad.jsonl"), settings)
    with pytest.raises(TrainingDataError, match="RAFT training needs examples with passages"):
        training.new_run(tiny_config(tiny_model, qa_file, style="raft"), settings)
    with pytest.raises(AdapterError, match="invalid adapter name"):
        training.new_run(tiny_config(tiny_model, qa_file, name="../evil"), settings)


# --- the real SmolLM2: one short run, then the fine-tuned and hybrid modes ---------------

def test_smollm2_adapter_for_finetuned_and_hybrid_modes(settings, contract_pdf, tmp_path):
    from core.answer import answer

    kb = Store(settings).kb("legal", create=True)
    kb.ingest_file(contract_pdf)
    origin = {"file": "supply_contract.pdf", "page": 2, "text": "lasts for seven years"}
    pairs = [Example("How long does the agreement last?", "seven years", source=origin),
             Example("Within how many days are invoices payable?", "forty five days"),
             Example("What interest do late payments carry?", "four percent per year")]
    raft = make_raft(pairs, kb, settings, drop_oracle=0.0)
    data = tmp_path / "raft.jsonl"
    write_examples(raft, data)
    config = training.TrainConfig(name="contract-raft", data=str(data), style="raft", max_steps=2, batch_size=2,
                                  learning_rate=1e-4)
    info = training.run(training.new_run(config, settings), settings)
    assert info.base_model == settings.generator_model and info.steps == 2

    hybrid = answer("How long does the agreement last?", mode="hybrid", kb=kb, settings=settings)
    assert hybrid.mode == "hybrid" and hybrid.adapter == "contract-raft"
    assert hybrid.sources and all(s.kind == "retrieved" for s in hybrid.sources)
    assert hybrid.refused or hybrid.cited_sources[0].source == "supply_contract.pdf"

    # eval names the adapter it used when none was given (the newest fitting one here)
    from core.__main__ import build_parser

    questions, report = tmp_path / "one.jsonl", tmp_path / "report.json"
    questions.write_text(json.dumps({"id": "a", "question": "How long does the agreement last?",
                                     "answers": ["seven years"]}) + "\n")
    args = build_parser().parse_args(["eval", str(questions), "--kb", "legal", "--modes", "hybrid,finetuned",
                                      "--json", str(report), "--quiet"])
    assert args.func(args, settings) == 0
    assert json.loads(report.read_text())["adapters"] == {"hybrid": "contract-raft", "finetuned": "contract-raft"}

    finetuned = answer("How long does the agreement last?", mode="finetuned", settings=settings,
                       adapter="contract-raft")
    assert finetuned.mode == "finetuned" and finetuned.text
    assert finetuned.sources and all(s.kind == "training" and not s.cited for s in finetuned.sources)
    assert finetuned.sources[0].heading == "training example: How long does the agreement last?"
    assert finetuned.sources[0].source == "supply_contract.pdf" and finetuned.sources[0].page == 2


def test_raft_refusal_share_is_capped():
    from adapters.datasets import IDK, limit_no_oracle

    examples = [Example(f"q{i}", "answer [1]", style="raft") for i in range(30)] + \
               [Example(f"r{i}", IDK, style="raft") for i in range(40)]
    kept = limit_no_oracle(examples, max_share=0.25)
    assert sum(e.answer == IDK for e in kept) == 10 and sum(e.answer != IDK for e in kept) == 30
    assert limit_no_oracle(examples, max_share=1.0) == examples


def test_eval_format_data_is_normalised_and_kept_as_provenance(settings, tiny_model, tmp_path):
    from core.answer import training_sources

    data = tmp_path / "covid_train.jsonl"  # the evaluation format: "answers" list, "source" a file name
    data.write_text("".join(json.dumps({"id": f"c{i}", "question": q, "answers": [a], "source": "covid_1.txt"}) + "\n"
                            for i, (q, a) in enumerate(FACTS * 3)))
    info = training.run(training.new_run(tiny_config(tiny_model, data, max_steps=2), settings), settings)
    rows = [json.loads(line) for line in (Path(info.path) / "train.jsonl").read_text().splitlines()]
    assert rows[0]["answer"] == FACTS[0][1] and rows[0]["source"] == {"file": "covid_1.txt"}
    tiny = replace(settings, generator_model="tiny-llama")
    sources = training_sources("Queen Talia", "Who founded Zorba city?", "zorba", tiny)
    assert sources[0].kind == "training" and sources[0].source == "covid_1.txt"
    assert sources[0].heading == "training example: Who founded Zorba city?"


def test_beam_search_gives_the_searched_answer_in_one_piece(tiny_model):
    """DOCENT_NUM_BEAMS > 1 decodes by beam search (transformers cannot stream it): the whole
    answer comes as one piece, the one generate() finds with that many beams; 1 streams greedy."""
    import torch

    from core.models import Generator

    generator = Generator(str(tiny_model), "tiny-llama")
    messages = [{"role": "user", "content": "How long does the agreement last?"}]
    inputs = generator.prompt_ids(messages)

    def searched(beams: int) -> str:
        with torch.no_grad():
            out = generator.model.generate(**inputs, max_new_tokens=12, do_sample=False, num_beams=beams,
                                           pad_token_id=generator.tokenizer.eos_token_id)
        return generator.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

    greedy, beams = searched(1), searched(3)
    assert greedy != beams  # on this prompt the search finds another answer, so the test tells them apart
    assert "".join(generator.stream(messages, 12)) == greedy
    pieces = list(generator.stream(messages, 12, num_beams=3))
    assert pieces == [beams]
