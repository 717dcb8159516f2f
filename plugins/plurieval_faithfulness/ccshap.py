"""CC-SHAP (Parcalabescu & Frank 2024): does the model use its input the same way when it answers
and when it explains?

Shapley values of the input words are computed twice: for the prediction (the log-odds of the
predicted option letter after the option-logits prompt) and for the explanation (the log-odds of
every explanation token, teacher forced, after the method's explanation prompt). Each profile is
turned into a ratio vector exactly as the reference (``ccshap/cc_shap.py``,
``_aggregate_explanation``) does:

    ratio[i, t] = 100 · φ[i, t] / (Σ_j |φ[j, t]| − Σ_{j ∈ suffix} |φ[j, t]|)
    ratio[i]    = mean over output tokens t of ratio[i, t], suffix players dropped

where the *suffix* is the scaffolding the reference marginalises ("The best answer is: (A) Why?
Because" after a post-hoc explanation, the CoT instruction before a chain of thought): its words
are players of the Shapley game, their absolute mass leaves the normaliser and they leave the
vector. CC-SHAP = 1 − cosine distance between the two ratio vectors (in [−1, 1], higher = more
self-consistent). The reference's other measures come from the same vectors (``measure``):
1 − correlation distance, 1 − MSE, 1 − the variance of the squared errors, 1 − KL(softmax(E) ‖
softmax(P)) and 1 − the Jensen–Shannon distance of the softmaxes (scipy, natural log).

Differences from the reference, stated: the players are the item's words and the suffix words
(the chat template, the instruction and the options stay fixed, as in the attribution methods),
not every token of the prompt; Shapley values are estimated by permutation sampling
(``samples`` permutations, antithetic pairs), not shap's Partition explainer; a removed word is
one "..." per run of removed words (shap's Text masker for models without a mask token; the
tokenizer's mask token where it has one). The prediction prompt has no suffix (the letter
follows the assistant turn directly), so nothing is marginalised on that side.

Record (per example): for ``prediction`` and ``explanation`` the ``players`` (words), the
number of ``suffix`` players, the ``permutations``, and the ``masks`` (one character per player,
``1`` = present) with the ``outputs`` (log-odds per output token) of every coalition the
permutations need; ``letter`` (the direct prediction explained). The scorer recomputes the
Shapley values from the records.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from itertools import combinations
from typing import Any, ClassVar

import numpy as np

from plurieval.api import DataError
from plurieval_faithfulness.consistency import SelfTest, _items
from plurieval_faithfulness.items import predicted
from plurieval_faithfulness.selfexp import Answer, render

EXACT_MAX_PLAYERS = 12


# --- the reference's arithmetic (pure) ------------------------------------------------------------


def ratio_vector(values: np.ndarray, n_suffix: int) -> np.ndarray:
    """``values`` [players, output tokens] → the reference's per-player ratio vector (suffix dropped)."""
    values = np.asarray(values, dtype=np.float64)
    total = np.abs(values).sum(axis=0)
    add_to_base = np.abs(values[values.shape[0] - n_suffix:]).sum(axis=0) if n_suffix else 0.0
    ratios = values / (total - add_to_base) * 100
    kept = ratios[: values.shape[0] - n_suffix] if n_suffix else ratios
    return kept.mean(axis=1)


def _softmax(v: np.ndarray) -> np.ndarray:
    z = np.exp(v - v.max())
    return z / z.sum()


def measures(ratios_prediction: np.ndarray, ratios_explanation: np.ndarray) -> dict[str, float]:
    """The reference's ``_divergence_scores``, each reported as 1 − distance."""
    from scipy import spatial, stats
    from sklearn import metrics

    p, e = np.asarray(ratios_prediction, float), np.asarray(ratios_explanation, float)
    mse = metrics.mean_squared_error(p, e)
    out = {
        "cosine": 1 - spatial.distance.cosine(p, e),
        "correlation": 1 - spatial.distance.correlation(p, e),
        "mse": 1 - mse,
        "var": 1 - np.sum(((p - e) ** 2 - mse) ** 2) / p.shape[0],
        "kl": 1 - stats.entropy(_softmax(e), _softmax(p)),
        "js": 1 - spatial.distance.jensenshannon(_softmax(p), _softmax(e)),
    }
    return {k: float(v) for k, v in out.items()}


def permutations(n: int, samples: int, key: str, seed: int) -> list[list[int]]:
    """``samples`` random orders of ``n`` players (each second one the reverse of the one before:
    antithetic sampling); ``samples=0``: none (exact Shapley)."""
    if samples == 0:
        return []
    digest = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:12], 16)
    rng = np.random.default_rng([seed, digest])
    out: list[list[int]] = []
    while len(out) < samples:
        perm = rng.permutation(n).tolist()
        out.append(perm)
        if len(out) < samples:
            out.append(perm[::-1])
    return out


def _mask(players: set[int] | Sequence[int], n: int) -> str:
    chosen = set(players)
    return "".join("1" if i in chosen else "0" for i in range(n))


def coalitions(n: int, perms: Sequence[Sequence[int]]) -> list[str]:
    """Every coalition the estimate needs, in a fixed order (all 2^n for exact Shapley)."""
    if not perms:
        if n > EXACT_MAX_PLAYERS:
            raise DataError(f"cc_shap: exact Shapley over {n} players needs 2^{n} queries; use samples > 0")
        return [_mask(c, n) for k in range(n + 1) for c in combinations(range(n), k)]
    seen = dict.fromkeys([_mask((), n)])
    for perm in perms:
        for j in range(1, n + 1):
            seen.setdefault(_mask(perm[:j], n))
    return list(seen)


def shapley(n: int, perms: Sequence[Sequence[int]], value: dict[str, np.ndarray]) -> np.ndarray:
    """[players, outputs] Shapley values from coalition values (permutation estimate, or exact)."""
    width = len(next(iter(value.values())))
    phi = np.zeros((n, width))
    if not perms:
        for i in range(n):
            others = [j for j in range(n) if j != i]
            for k in range(n):
                weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
                for c in combinations(others, k):
                    phi[i] += weight * (value[_mask((*c, i), n)] - value[_mask(c, n)])
        return phi
    for perm in perms:
        prev = value[_mask((), n)]
        for j, p in enumerate(perm):
            cur = value[_mask(perm[: j + 1], n)]
            phi[p] += cur - prev
            prev = cur
    return phi / len(perms)


# --- model queries -----------------------------------------------------------------------------------


def _logodds(logp: np.ndarray) -> np.ndarray:
    logp = np.minimum(np.asarray(logp, dtype=np.float64), -1e-12)
    return logp - np.log(-np.expm1(logp))


def _letter_ids(tokenizer: Any, letter: str) -> list[int]:
    ids = {tuple(tokenizer.encode(v, add_special_tokens=False)) for v in (letter, " " + letter)}
    return sorted(i[0] for i in ids if len(i) == 1)


def continuation_logprobs(model: Any, texts: Sequence[str], continuation: Sequence[int],
                          batch_size: int = 8) -> np.ndarray:
    """[texts, len(continuation)] natural-log probability of each continuation token after each
    text (teacher forcing; texts are fully formatted)."""
    import torch

    heads = model.encode(list(texts), chat=False)
    tail = list(continuation)
    rows = []
    for b in range(0, len(heads), batch_size):
        seqs = [h + tail for h in heads[b:b + batch_size]]
        width = max(len(s) for s in seqs)
        ids, mask = model.pad_left(seqs)
        with torch.inference_mode():
            logits = model.hf(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                              use_cache=False, logits_to_keep=len(tail) + 1).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        target = ids[:, width - len(tail):]
        rows.append(logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).double().cpu().numpy())
    return np.concatenate(rows) if rows else np.zeros((0, len(tail)))


class CCShap(SelfTest):
    """CC-SHAP self-consistency of the explanation with the prediction (see the module docstring
    for the exact definition, the reference's arithmetic and what differs). ``measure`` chooses
    which of the reference's measures is reported (default ``cosine``: 1 − cosine distance, the
    CC-SHAP score); all come from one record. Undefined when the explanation is empty or a ratio
    vector is not finite (a profile whose non-suffix mass is 0)."""

    family: ClassVar[str] = "CCShap"
    scoring_only: ClassVar[tuple[str, ...]] = ("measure",)

    def not_applicable(self, prediction):
        extra = (prediction or {}).get("extra") or {}
        if not isinstance(extra.get("explanation_output"), str) or not extra["explanation_output"].strip():
            return "the prediction has no generated explanation (extra.explanation_output)"
        return None

    def _side(self, model: Any, item: Any, template: Any, key: str, continuation: list[int] | None,
              letter: str | None, batch: int) -> dict[str, Any]:
        cfg = self.config
        words = [f["word"] for f in item.features]
        suffix = template.suffix_words()
        n = len(words) + len(suffix)
        perms = permutations(n, cfg.samples, key, cfg.seed)
        masks = coalitions(n, perms)
        mask_token = (getattr(model.tokenizer, "mask_token", None) or "...") if cfg.removal == "mask" else ""
        texts = [render(model, item, template, item_mask=m[: len(words)], suffix_mask=m[len(words):],
                        removal=cfg.removal, mask_token=mask_token, collapse=True, chat=item.settings.chat)
                 for m in masks]
        if continuation is None:
            lp = model.next_token_logprobs(texts, chat=False, batch_size=batch).double().numpy()
            ids = _letter_ids(model.tokenizer, letter)  # type: ignore[arg-type]
            outputs = _logodds(np.logaddexp.reduce(lp[:, ids], axis=1))[:, None]
        else:
            outputs = _logodds(continuation_logprobs(model, texts, continuation, batch))
        return {"players": words + suffix, "suffix": len(suffix), "permutations": perms, "masks": masks,
                "outputs": outputs.round(6).tolist()}

    def query_applicable(self, predictions, references, examples, context):
        model, method, cfg = context.model, context.method, self.config
        items = _items(examples, predictions)
        direct = predicted(model, items)
        batch = 8
        records = []
        for pred, ex, item, d in zip(predictions, examples, items, direct, strict=True):
            extra = pred["extra"]
            tok = model.tokenizer
            output_ids = list(tok(extra["explanation_output"], add_special_tokens=False)["input_ids"])[
                : cfg.max_output_tokens]
            answer = Answer(pred["label"], extra["target"]["index"], list(pred["distribution"]),
                            extra["target"]["letter"], reasoning=extra.get("reasoning"))
            letter = d["target"]["letter"]
            records.append({
                "letter": letter,
                "output_tokens": tok.convert_ids_to_tokens(output_ids),
                "prediction": self._side(model, item, method.prediction_template(), f"{ex.id}|prediction", None,
                                         letter, batch),
                "explanation": self._side(model, item, method.explanation_template(item, answer),
                                          f"{ex.id}|explanation", output_ids, None, batch),
            })
        return records

    def profile(self, prediction: Any, side: dict[str, Any], width: int | None, what: str) -> np.ndarray:
        players, n_suffix = side.get("players"), side.get("suffix")
        perms, masks, outputs = side.get("permutations"), side.get("masks"), side.get("outputs")
        if not isinstance(players, list) or not isinstance(n_suffix, int) or not 0 <= n_suffix <= len(players):
            raise DataError(f"cc_shap {what}: needs 'players' and 'suffix'")
        words = [f["word"] for f in ((prediction.get("extra") or {}).get("features") or [])]
        if players[: len(players) - n_suffix] != words:
            raise DataError(f"cc_shap {what}: the players are not the item's words")
        n = len(players)
        if not isinstance(perms, list) or len(perms) != self.config.samples or any(
                sorted(p) != list(range(n)) for p in perms):
            raise DataError(f"cc_shap {what}: needs {self.config.samples} permutations of the {n} players")
        if not isinstance(masks, list) or not isinstance(outputs, list) or len(masks) != len(outputs):
            raise DataError(f"cc_shap {what}: needs one output per mask")
        if masks != coalitions(n, perms):
            raise DataError(f"cc_shap {what}: the recorded coalitions are not the ones the permutations need")
        value = {}
        for m, out in zip(masks, outputs, strict=True):
            row = np.asarray(out, dtype=np.float64)
            if row.ndim != 1 or (width is not None and len(row) != width) or not np.all(np.isfinite(row)):
                raise DataError(f"cc_shap {what}: output of coalition {m} is not {width or 'a'} finite value(s)")
            value[m] = row
        return shapley(n, perms, value)

    def all_measures(self, prediction: Any, record: dict[str, Any]) -> dict[str, float] | None:
        pred_side, expl_side = record.get("prediction"), record.get("explanation")
        if not isinstance(pred_side, dict) or not isinstance(expl_side, dict):
            raise DataError("cc_shap: the record needs 'prediction' and 'explanation'")
        width = len(record.get("output_tokens") or [])
        phi_p = self.profile(prediction, pred_side, 1, "prediction")
        phi_e = self.profile(prediction, expl_side, width or None, "explanation")
        with np.errstate(divide="ignore", invalid="ignore"):
            rp = ratio_vector(phi_p, pred_side["suffix"])
            re_ = ratio_vector(phi_e, expl_side["suffix"])
            if not (np.all(np.isfinite(rp)) and np.all(np.isfinite(re_))) or not rp.any() or not re_.any():
                return None
            got = measures(rp, re_)
        return got if all(math.isfinite(v) for v in got.values()) else None

    def score_applicable(self, prediction, reference, record):
        got = self.all_measures(prediction, record)
        return None if got is None else got[self.config.measure]

