"""A chat conversation as a file a reader can keep: Markdown or JSON, with citations.

Messages are the chat page's: `{"role": "user", "content": ...}` and assistant turns
holding one `answer` (an `Answer.to_dict()`) or, from the compare view, `answers` per mode.
"""

from __future__ import annotations

import json
from typing import Any

from core.citations import strip_citation_marks

MODE_NAMES = {"rag": "RAG", "finetuned": "Fine-tuned", "hybrid": "Hybrid", "base": "Base model", "plain": "Plain RAG"}


def _answer_markdown(answer: dict[str, Any], heading: str) -> list[str]:
    label = MODE_NAMES.get(answer["mode"], answer["mode"]) + (f", adapter {answer['adapter']}"
                                                              if answer.get("adapter") else "")
    lines = [f"{heading} Docent ({label})", "", strip_citation_marks(answer["answer"])]
    if answer.get("refused"):
        lines.append(f"\n_Refused: {answer.get('reason', '')}_")
    cited = [s for s in answer.get("sources", []) if s.get("cited")]
    if cited:
        lines.append("\nSources:")
        for n, s in enumerate(cited, start=1):
            sentence = " ".join(s.get("sentence", "").split())
            lines.append(f"{n}. {s['source']}, page {s['page']}: \"{sentence}\"")
    total = answer.get("timings", {}).get("total")
    if total is not None:
        lines.append(f"\n_{total:.2f} s_")
    return lines


def to_markdown(messages: list[dict[str, Any]], title: str = "Docent conversation") -> str:
    lines = [f"# {title}", ""]
    for message in messages:
        if message["role"] == "user":
            lines += [f"## Question: {message['content']}", ""]
        elif "answers" in message:
            for mode, answer in message["answers"].items():
                if "error" in answer:
                    name = MODE_NAMES.get(mode, mode)
                    lines += [f"### Docent ({name})", "", f"_Could not answer: {answer['error']}_"]
                else:
                    lines += _answer_markdown(answer, "###")
                lines.append("")
            if message.get("best"):
                lines += [f"Best answer (marked by the reader): {MODE_NAMES.get(message['best'], message['best'])}",
                          ""]
        else:
            lines += _answer_markdown(message["answer"], "###") + [""]
    return "\n".join(lines).rstrip() + "\n"


def to_json(messages: list[dict[str, Any]]) -> str:
    return json.dumps(messages, indent=2, ensure_ascii=False)
