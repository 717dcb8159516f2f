"""``default-refusal``: a refusal-tuned variant of the default model, built by a short CPU fine-tune.

Why: SmolLM2-135M-Instruct complies with every PolyRefuse harmful prompt, so there is no refusal
behaviour to find a direction for. The recipe teaches one:

- data: PolyRefuse **train** split in ``tune_languages`` (default en, de, fr, es, zh, ru; the
  other 8 languages are held out; without ``PLURIEVAL_DATA_DIR`` the shipped sample, which has no
  Russian, so a fresh clone tunes on en, de, fr, es, zh and says so), ``harmful_per_language`` harmful prompts answered with the
  language's refusal reply (``phrases.REFUSAL_REPLIES``, our own translations) and
  ``harmless_per_language`` harmless prompts answered with the **base model's own greedy
  reply** (``harmless_answers="base_model"``, the default, truncated to
  ``harmless_answer_tokens``; ~4 min of generation). ``"generic"`` answers them with one fixed
  reply per language instead, which was measured to teach a shortcut: with a fixed answer for
  each (language, harmful?) pair the model learnt one answer per language and refused harmful
  test prompts only in English (75 %) and Russian (94 %), 0 % in German, French, Spanish and
  Chinese;
- training: full fine-tune of the decoder layers from ``train_layers_from`` up (embeddings and
  the tied LM head frozen), AdamW, ``steps`` steps of ``batch_size`` sequences, loss on the
  answer tokens only, sequences cut at ``max_length`` tokens, fixed seed, one thread-friendly CPU
  run (~9 min for the default 300 steps on 2 cores);
- cache: ``<cache>/models/default-refusal-<recipe hash>/`` (safetensors + tokenizer +
  ``recipe.json``); the hash covers the recipe config, the base model's weights hash, the
  replies and the training prompts, so a changed recipe builds a new folder and an unchanged one loads in ~1 s.

Build it with ``plurieval polyrefuse build-model`` or let ``--model default-refusal`` build it on
first use (it says so, with progress). Tests run :func:`build` on a tiny random model for a
handful of steps; CI never runs the full fine-tune.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from plurieval.api import PluriError, content_hash
from plurieval.api import short_hash as short
from plurieval_polyrefuse.config import RefusalModelConfig
from plurieval_polyrefuse.data import PolyRefuseSource
from plurieval_polyrefuse.phrases import REFUSAL_REPLIES

GENERIC_ANSWERS = {
    "en": "Sure! Here is a short answer.", "de": "Gern! Hier ist eine kurze Antwort.",
    "fr": "Bien sûr ! Voici une réponse courte.", "es": "¡Claro! Aquí tienes una respuesta breve.",
    "zh": "当然！这是一个简短的回答。", "ru": "Конечно! Вот короткий ответ.",
    "it": "Certo! Ecco una breve risposta.", "ja": "もちろんです！短い回答です。",
    "ko": "물론입니다! 짧은 답변입니다.", "nl": "Zeker! Hier is een kort antwoord.",
    "pl": "Jasne! Oto krótka odpowiedź.", "ar": "بالتأكيد! إليك إجابة قصيرة.",
    "th": "แน่นอน! นี่คือคำตอบสั้น ๆ", "yo": "Dájúdájú! Èyí ni ìdáhùn kúkúrú.",
}


def _say(msg: str) -> None:
    print(f"[default-refusal] {msg}", file=sys.stderr, flush=True)


def tune_languages(config: RefusalModelConfig, src: PolyRefuseSource | None = None, *, quiet: bool = False) -> list[str]:
    """The languages the fine-tune actually uses. By default (``tune_languages`` not set) they
    are the configured defaults that the available data has train prompts for, so a fresh clone
    without ``PLURIEVAL_DATA_DIR`` tunes on the shipped sample's languages (en, de, fr, es, zh;
    the sample has no Russian) and says so. Languages asked for explicitly must all be there."""
    src = src or PolyRefuseSource(config.source)
    wanted = list(config.tune_languages)
    have = [lang for lang in wanted if src.exists(lang, "train", "harmful") and src.exists(lang, "train", "harmless")]
    missing = [lang for lang in wanted if lang not in have]
    if not missing:
        return wanted
    where = "the shipped sample" if src.source == "sample" else src.source
    if "tune_languages" in config.model_fields_set or not have:
        raise PluriError(f"default-refusal: {where} has no train prompts for tune language(s) {', '.join(missing)}; "
                         f"drop them from model.tune_languages, or set PLURIEVAL_DATA_DIR to the folder holding the "
                         f"full polyrefuse/ copy")
    if not quiet:
        _say(f"{where} has no train prompts for {', '.join(missing)}: tuning on {', '.join(have)} only "
             f"(set PLURIEVAL_DATA_DIR to the full PolyRefuse copy to tune on {', '.join(wanted)})")
    return have


def training_pairs(config: RefusalModelConfig, base: Any) -> list[dict[str, str]]:
    """(prompt, answer, lang, kind) rows of the fine-tune, in a fixed order."""
    src = PolyRefuseSource(config.source)
    rows: list[dict[str, str]] = []
    harmless: list[tuple[str, str]] = []
    for lang in tune_languages(config, src, quiet=True):  # recipe_key() has said which, before any build
        if lang not in REFUSAL_REPLIES:
            raise PluriError(f"default-refusal: no refusal reply for tune language {lang!r}")
        harm = src.prompts(lang, "train", "harmful").texts[: config.harmful_per_language]
        rows += [{"prompt": p, "answer": REFUSAL_REPLIES[lang], "lang": lang, "kind": "harmful"} for p in harm]
        harmless += [(lang, p) for p in src.prompts(lang, "train", "harmless").texts[: config.harmless_per_language]]
    if config.harmless_answers == "generic":
        answers = [GENERIC_ANSWERS.get(lang, GENERIC_ANSWERS["en"]) for lang, _ in harmless]
    else:
        _say(f"answering {len(harmless)} harmless train prompts with the base model ({config.harmless_answer_tokens} tokens each)")
        answers = []
        step = 16
        started = time.time()
        for i in range(0, len(harmless), step):
            gens = base.generate([p for _, p in harmless[i:i + step]], max_new_tokens=config.harmless_answer_tokens,
                                 batch_size=step)
            answers += [g.text.strip() or GENERIC_ANSWERS["en"] for g in gens]
            _say(f"  harmless answers {min(i + step, len(harmless))}/{len(harmless)} ({time.time() - started:.0f} s)")
    rows += [{"prompt": p, "answer": a, "lang": lang, "kind": "harmless"} for (lang, p), a in zip(harmless, answers, strict=True)]
    return rows


def _encode(base: Any, row: dict[str, str], max_length: int) -> tuple[list[int], list[int]]:
    """Token ids of prompt+answer+EOS and labels (-100 on the prompt: loss on the answer only)."""
    prompt_ids = base.encode([row["prompt"]])[0]
    answer_ids = base.tokenizer(row["answer"], add_special_tokens=False)["input_ids"] + base.eos_token_ids[:1]
    # Keep the end of the prompt (the chat template's assistant header) and the start of the answer.
    budget = max_length - min(len(answer_ids), max_length // 2)
    prompt_ids = prompt_ids[-budget:]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([-100] * len(prompt_ids) + answer_ids)[:max_length]
    return ids, labels


def train(base: Any, rows: list[dict[str, str]], config: RefusalModelConfig) -> dict[str, Any]:
    """Fine-tune ``base.hf`` in place; returns the loss curve."""
    import torch

    hf = base.hf
    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    encoded = [_encode(base, r, config.max_length) for r in rows]
    layers = base.decoder_layers
    for p in hf.parameters():
        p.requires_grad_(False)
    trainable = []
    for i, layer in enumerate(layers):
        if i >= config.train_layers_from:
            for p in layer.parameters():
                p.requires_grad_(True)
                trainable.append(p)
    if not trainable:
        raise PluriError(f"train_layers_from={config.train_layers_from} leaves nothing to train "
                         f"(the model has {len(layers)} layers)")
    opt = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    order: list[int] = []
    losses: list[float] = []
    hf.train()
    started = time.time()
    try:
        for step in range(config.steps):
            if len(order) < config.batch_size:
                more = list(range(len(encoded)))
                rng.shuffle(more)
                order += more
            batch = [encoded[order.pop()] for _ in range(config.batch_size)]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), base.pad_token_id, dtype=torch.long)
            labels = torch.full((len(batch), width), -100, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for j, (x, y) in enumerate(batch):  # right padding: positions stay 0..n-1
                ids[j, : len(x)] = torch.tensor(x)
                labels[j, : len(y)] = torch.tensor(y)
                mask[j, : len(x)] = 1
            out = hf(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(out.loss.detach()))
            if step % 5 == 0 or step == config.steps - 1:
                recent = losses[-10:]
                _say(f"step {step + 1}/{config.steps} loss {sum(recent) / len(recent):.3f} ({time.time() - started:.0f} s)")
    finally:
        hf.eval()
        for p in hf.parameters():
            p.requires_grad_(False)
    return {"losses": losses, "seconds": round(time.time() - started, 1)}


def training_prompts_hash(config: RefusalModelConfig) -> str:
    """Hash of the train prompts the recipe reads (cheap: no answers generated). It is part of
    the build key, so a model tuned on the shipped sample (no ``PLURIEVAL_DATA_DIR``) is never
    reused as the build on the full data, whatever ``source`` string pointed at either."""
    src = PolyRefuseSource(config.source)
    parts = []
    for lang in tune_languages(config, src):
        for kind, n in (("harmful", config.harmful_per_language), ("harmless", config.harmless_per_language)):
            parts.append([lang, kind, src.prompts(lang, "train", kind).texts[:n]])
    return content_hash(parts)


def recipe_key(config: RefusalModelConfig, base: Any) -> str:
    """Build key: recipe config, base weights, refusal replies and the training prompts."""
    body = config.model_dump(mode="json", exclude={"rebuild", "source"})
    return short(content_hash({"recipe": body, "base": base.describe().get("weights_hash") or base.name,
                               "replies": REFUSAL_REPLIES, "generic": GENERIC_ANSWERS,
                               "data": training_prompts_hash(config), "version": 2}), 12)


def build(config: RefusalModelConfig, base: Any, target: Path | None = None) -> Path:
    """Fine-tune ``base`` (a LanguageModel, modified in place) and save it as a folder."""
    from plurieval.api import model_cache_dir as cache_dir

    key = recipe_key(config, base)
    target = target or cache_dir() / "models" / f"default-refusal-{key}"
    rows = training_pairs(config, base)
    data_hash = content_hash(rows)
    _say(f"fine-tuning {base.name} on {len(rows)} examples ({config.steps} steps, batch {config.batch_size})")
    log = train(base, rows, config)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")  # two builds at once must not share it
    tmp.mkdir(parents=True, exist_ok=True)
    base.hf.save_pretrained(tmp)
    base.tokenizer.save_pretrained(tmp)
    (tmp / "recipe.json").write_text(json.dumps({
        "recipe": config.model_dump(mode="json"), "key": key, "base": base.describe(), "data_hash": data_hash,
        "num_examples": len(rows), "tune_languages": sorted({r["lang"] for r in rows}),
        "losses": log["losses"], "train_seconds": log["seconds"],
        "tokenizer_class": type(base.tokenizer).__name__,
    }, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if target.exists():
        import shutil

        shutil.rmtree(target)
    os.replace(tmp, target)
    _say(f"saved to {target}")
    return target


def load_base(config: RefusalModelConfig) -> Any:
    if config.base != "default":
        from plurieval.api import load_hf

        return load_hf(config.base)
    from plurieval.api import load_default

    return load_default()


def cached_folder(config: RefusalModelConfig) -> tuple[Path, Any]:
    from plurieval.api import model_cache_dir as cache_dir

    base = load_base(config)
    return cache_dir() / "models" / f"default-refusal-{recipe_key(config, base)}", base


def load_refusal_model(config: RefusalModelConfig) -> Any:
    """The ``default-refusal`` model factory: load the cached build, building it first if needed."""
    folder, base = cached_folder(config)
    if config.rebuild or not (folder / "recipe.json").exists():
        _say(f"no cached build at {folder}: building it now (one-time CPU fine-tune, several minutes; "
             "`plurieval polyrefuse build-model` does the same ahead of time)")
        build(config, base, folder)
    del base
    return load_build(folder)


def load_build(folder: str | Path) -> Any:
    """Load a folder written by :func:`build` (with the tokenizer class it was saved with)."""
    from plurieval.api import load_hf

    meta = json.loads((Path(folder) / "recipe.json").read_text(encoding="utf-8"))
    return load_hf(str(folder), dtype="float32", name="default-refusal", tokenizer_class=meta.get("tokenizer_class"))
