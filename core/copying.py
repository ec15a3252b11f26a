"""Copy-constrained decoding: the model may only write a stretch of the passages' own
sentences (starting at any word, ending anywhere) or "I don't know.".

A 135M model asked for a contract's date writes "2022-01-01" as readily as the date the
passage states; the checks afterwards can only refuse such an answer. Constraining the
decoder instead makes the model choose *where* in the passages the answer is, which is
the part it is good at. transformers' `generate(prefix_allowed_tokens_fn=...)` applies
the constraint; this module only builds the token trie it walks.
"""

from __future__ import annotations

import re
from typing import Any

REFUSAL_TEXT = "I don't know."
_WORD_START = re.compile(r"\S+")


class CopyConstraint:
    """`prefix_allowed_tokens_fn` for `generate`: the tokens that continue a stretch of
    one of `sentences` (or the refusal), plus the end-of-text token once something is written."""

    def __init__(self, tokenizer: Any, sentences: list[str], prompt_length: int, max_tokens: int = 64,
                 end_ids: list[int] | None = None) -> None:
        self.prompt_length = prompt_length
        self.end_ids = end_ids if end_ids is not None else [tokenizer.eos_token_id]
        self.root: dict[int, dict] = {}
        texts = [REFUSAL_TEXT]
        for sentence in sentences:
            sentence = " ".join(sentence.split())
            # A stretch starts at any word; the answer's first token has no leading space.
            texts += [sentence[m.start():] for m in _WORD_START.finditer(sentence)]
        for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
            node = self.root
            for token in ids[:max_tokens]:
                node = node.setdefault(token, {})

    def allowed(self, generated: list[int]) -> list[int]:
        node = self.root
        for token in generated:
            node = node.get(token)
            if node is None:  # cannot happen under the constraint; end rather than fail
                return list(self.end_ids)
        return list(node) + (list(self.end_ids) if generated else [])

    def __call__(self, batch_id: int, input_ids: Any) -> list[int]:
        return self.allowed(input_ids[self.prompt_length:].tolist())
