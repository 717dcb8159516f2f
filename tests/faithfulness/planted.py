"""A tiny language model whose NLI answer depends on one planted word only (shared test fixture).

Items look like the benchmark's (premise, hypothesis, options entailment/neutral/contradiction)
and are rendered by the same ``option-logits`` prompt. Every premise holds filler words and, in
the evaluation items, exactly one *key*: ``zorp`` → the model answers A (entailment), ``blick``
→ C (contradiction). Training items without a key are labelled B (neutral), so removing the key
moves the prediction away. The model is a real 2-layer ``LlamaForCausalLM`` over a word-level
tokenizer (one token per word), trained in a few seconds on the letter after the prompt.

What a faithful explanation must therefore say is known: the key word is the whole reason. The
human rationale of each item is set to the key word, so plausibility is known too.

Used by the attribution tests here and meant for every later faithfulness test (self-explanation
methods, diagnosticity): ``planted_model()`` is cached per process.
"""

from __future__ import annotations

import functools
import random

from plurieval.api import Example, LanguageModel, get_host

FILLER = ("the a man woman dog cat park street red blue old young walks sits runs sleeps near under big small "
          "child bird tree house").split()
KEYS = {"zorp": "entailment", "blick": "contradiction"}
OPTIONS = ["entailment", "neutral", "contradiction"]
LETTER = {"entailment": "A", "neutral": "B", "contradiction": "C"}


def make_item(rng: random.Random, key: str | None, i: int) -> Example:
    words = [rng.choice(FILLER) for _ in range(rng.randint(4, 7))]
    if key is not None:
        words.insert(rng.randrange(len(words) + 1), key)
    hyp = [rng.choice(FILLER) for _ in range(rng.randint(2, 4))]
    premise, hypothesis = " ".join(words), " ".join(hyp)
    label = KEYS[key] if key else "neutral"
    rationale = [int(w == key) for w in words] + [0] * len(hyp)
    return Example(f"planted-{i:04d}", {"premise": premise, "hypothesis": hypothesis, "options": list(OPTIONS)},
                   {"label": label, "rationale": rationale if key else None, "votes": rationale, "annotators": 1},
                   {"source": "planted", "label": label, "key": key})


def eval_items(n: int = 12, seed: int = 1) -> list[Example]:
    rng = random.Random(seed)
    return [make_item(rng, list(KEYS)[i % 2], 10_000 + i) for i in range(n)]


def _tokenizer(prompts: list[str]):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[EOS]", "[MASK]"]
    words = sorted({w for p in prompts for w in p.split()} | set(FILLER) | set(KEYS) | {"A", "B", "C"})
    vocab = {w: i for i, w in enumerate(special + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]",
                                   mask_token="[MASK]")


@functools.lru_cache(maxsize=2)
def planted_model(seed: int = 0, steps: int = 150) -> LanguageModel:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    renderer = get_host().get("method", "option-logits").create({"chat": False})
    rng = random.Random(seed)
    train = [make_item(rng, rng.choice([None, *KEYS]), i) for i in range(600)]
    prompts = [renderer.prompt(ex)[0] for ex in train]
    tokenizer = _tokenizer(prompts)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
                         tie_word_embeddings=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        hf = LlamaForCausalLM(config)
        lm = LanguageModel(hf, tokenizer, name=f"planted-seed{seed}", revision=f"trained-{steps}-steps")
        encoded = lm.encode(prompts, chat=False)
        answers = torch.tensor([tokenizer.convert_tokens_to_ids(LETTER[ex.target["label"]]) for ex in train])
        opt = torch.optim.Adam(hf.parameters(), lr=3e-3)
        hf.train()
        for _step in range(steps):
            idx = torch.randint(0, len(train), (32,))
            ids, mask = lm.pad_left([encoded[i] for i in idx.tolist()])
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = hf(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits[:, -1]
            loss = torch.nn.functional.cross_entropy(logits, answers[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        hf.eval()
    lm.final_loss = float(loss.detach())  # type: ignore[attr-defined]
    return lm
