"""Everything a plugin may import from plurieval, in one place.

First-party plugins import only this module (and their own package); a test checks it. Names
are resolved lazily (PEP 562), so ``from plurieval.api import hookimpl`` in a plugin's
``plugin.py`` stays as cheap as before: torch, transformers and the model layer are imported
only when a plugin touches one of their names (``LanguageModel``, ``AddVector``, ...).

Grouped by what a plugin author does with them (``docs/plugins.md`` documents each):

- the contract: ``hookimpl``, the spec records, ``NoConfig``;
- the domain model: ``Dataset``, ``Example``, ``ExplanationMethod``, ``Metric`` (+
  ``MetricOutput`` for per-example details), ``RecordedMetric`` (model in the loop, recomputable
  from its recorded queries, + ``attach_queries``), ``Benchmark``, ...;
- the steering protocol: ``SteeringMethod``/``DirectionMethod`` (a method), ``SteeringBenchmark``
  (a benchmark that declares; core's loop runs it) and their records (``SteeringTask``,
  ``Contrast``, ``Candidate``, ``Condition``, ``SteeringPlan``, ...);
- errors to raise: ``PluriError``, ``DataError``, ``ConfigError``;
- config helpers: ``CommaList``, ``DirectionConfig``;
- data helpers: ``data_path``, ``download``, ``cache_root``, ``read_jsonl``, ``encode_record`` (one checksummed results line), ``content_hash``, ``file_hash``, ``tensor_digest``,
  ``atomic_write`` (unique temp file + rename), ``file_lock``, ``redact_uri``, ``split_credentials``;
- statistics: ``with_ci``, ``bootstrap_ci`` (any aggregate, e.g. a paired difference), ``mean``;
- text checks: ``check_degenerate``, ``is_degenerate``, ``DegenerateConfig`` (degenerate-text detector), ``strip_echo``;
- explanation-loop helpers: ``run_explanation_benchmark``, ``choice_logprobs``, ``generate_texts``;
- the model layer: ``LanguageModel``, ``Generation``, loaders, interventions;
- steering math: ``direction_for``, ``diff_mean``, activations, LAPE, SAE, prompt rewrites;
- driving runs from a plugin command: ``execute_run``, ``execute``, ``build_run_config``,
  ``apply_overrides``; ``get_host`` (the registry of every installed component);
- leaderboards: ``load_board``, ``JudgeAgreementFile`` (what ``plurieval judge agreement`` writes beside a board).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> "module:attribute" (attribute defaults to the name itself)
_EXPORTS: dict[str, str] = {
    # the contract
    "hookimpl": "plurieval.hookspecs",
    "BenchmarkSpec": "plurieval.specs",
    "DatasetSpec": "plurieval.specs",
    "MethodSpec": "plurieval.specs",
    "MetricSpec": "plurieval.specs",
    "ModelSpec": "plurieval.specs",
    "ResourceSpec": "plurieval.specs",
    "NoConfig": "plurieval.specs",
    # domain model
    "Benchmark": "plurieval.components",
    "Component": "plurieval.components",
    "Dataset": "plurieval.components",
    "DatasetInfo": "plurieval.components",
    "Example": "plurieval.components",
    "ExplanationMethod": "plurieval.components",
    "Method": "plurieval.components",
    "Metric": "plurieval.components",
    "MetricContext": "plurieval.components",
    "MetricOutput": "plurieval.components",
    "MetricResult": "plurieval.components",
    "Prediction": "plurieval.components",
    # the steering protocol (types: torch-free)
    "SteeringMethod": "plurieval.components",
    "SteeringBenchmark": "plurieval.components",
    "SteeringTask": "plurieval.components",
    "SteeringPlan": "plurieval.components",
    "SteeringUnit": "plurieval.components",
    "Reading": "plurieval.components",
    "Contrast": "plurieval.components",
    "ActivationRequest": "plurieval.components",
    "Candidate": "plurieval.components",
    "Direction": "plurieval.components",
    "Condition": "plurieval.components",
    "Selection": "plurieval.components",
    "Probe": "plurieval.components",
    "PromptIntervention": "plurieval.components",
    "NotApplicable": "plurieval.components",
    "DirectionConfig": "plurieval.steering.config",
    "fit_standalone": "plurieval.steering.protocol",
    "fit_candidates": "plurieval.steering.protocol",
    "paired_difference": "plurieval.steering.protocol",
    "post_instruction_positions": "plurieval.steering.protocol",
    # the run a benchmark drives (for type annotations)
    "RunContext": "plurieval.run",
    "RunView": "plurieval.run",
    "ModelWork": "plurieval.run",
    "RecordedMetric": "plurieval.components",
    "attach_queries": "plurieval.components",
    # errors
    "PluriError": "plurieval.errors",
    "DataError": "plurieval.errors",
    "ConfigError": "plurieval.errors",
    # config helpers
    "CommaList": "plurieval.config",
    # data helpers
    "data_path": "plurieval.evaluate",
    "DATA_ENV": "plurieval.evaluate",
    "download": "plurieval.datafiles",
    "atomic_write": "plurieval.datafiles",
    "file_lock": "plurieval.locking",
    "redact_uri": "plurieval.redact",
    "split_credentials": "plurieval.redact",
    "cache_root": "plurieval.datafiles",
    "read_jsonl": "plurieval.results",
    "encode_record": "plurieval.results",
    "content_hash": "plurieval.hashing",
    "file_hash": "plurieval.hashing",
    "short_hash": "plurieval.hashing:short",
    "tensor_digest": "plurieval.cache",
    # statistics
    "with_ci": "plurieval.stats",
    "bootstrap_ci": "plurieval.stats",
    "mean": "plurieval.stats",
    # text checks shared by generation metrics (pure Python)
    "DegenerateConfig": "plurieval.text.degenerate",
    "DegenerateVerdict": "plurieval.text.degenerate",
    "check_degenerate": "plurieval.text.degenerate",
    "is_degenerate": "plurieval.text.degenerate",
    "text_features": "plurieval.text.degenerate",
    "verdict_from_features": "plurieval.text.degenerate",
    "strip_echo": "plurieval.text.echo",
    # explanation loop and its model helpers
    "run_explanation_benchmark": "plurieval.evaluate",
    "choice_logprobs": "plurieval.evaluate",
    "generate_texts": "plurieval.evaluate",
    # resources and the roles they implement
    "Resources": "plurieval.resources",
    "LanguageIdentifier": "plurieval.resources",
    "Embedder": "plurieval.resources",
    "Judge": "plurieval.resources",
    "KnowledgeBase": "plurieval.resources",
    # the model layer (imports torch)
    "LanguageModel": "plurieval.models",
    "Generation": "plurieval.models",
    "load_hf": "plurieval.models",
    "load_default": "plurieval.models",
    "load_gemma3": "plurieval.models",
    "model_cache_dir": "plurieval.models:cache_dir",
    "Intervention": "plurieval.models.interventions",
    "AddVector": "plurieval.models.interventions",
    "DirectionalAblation": "plurieval.models.interventions",
    "NeuronIntervention": "plurieval.models.interventions",
    "Compose": "plurieval.models.interventions",
    "RowEdit": "plurieval.models.interventions",
    "load_intervention": "plurieval.models.interventions",
    # steering math and the direction-method base (import torch)
    "DirectionMethod": "plurieval.steering.methods",
    "induce": "plurieval.steering.methods",
    "direction_for": "plurieval.steering.directions",
    "diff_mean": "plurieval.steering.directions",
    "cosine_matrix": "plurieval.steering.directions",
    "ActivationSet": "plurieval.steering.activations",
    "collect_activations": "plurieval.steering.activations",
    "select_language_neurons": "plurieval.steering.lape",
    "train_sae": "plurieval.steering.sae",
    "select_features": "plurieval.steering.sae",
    "feature_direction": "plurieval.steering.sae",
    "PromptRewrite": "plurieval.steering.prompting",
    "language_name": "plurieval.steering.prompting",
    # driving runs from a plugin's own command
    "build_run_config": "plurieval.config",
    "apply_overrides": "plurieval.config",
    "load_config_file": "plurieval.config",
    "split_assignment": "plurieval.config",
    "execute_run": "plurieval.runner",
    "execute": "plurieval.runner",
    # leaderboards: a board's spec and the judge agreement file shown beside its numbers
    "load_board": "plurieval.leaderboard.schema",
    "JudgeAgreementFile": "plurieval.leaderboard.schema",
    "get_host": "plurieval.host",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"plurieval.api has no {name!r}; a plugin may use: {', '.join(__all__)}")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr or name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for type checkers and IDEs; at run time names resolve lazily above
    from plurieval.cache import tensor_digest
    from plurieval.components import (
        ActivationRequest,
        Benchmark,
        Candidate,
        Component,
        Condition,
        Contrast,
        Dataset,
        DatasetInfo,
        Direction,
        Example,
        ExplanationMethod,
        Method,
        Metric,
        MetricContext,
        MetricOutput,
        MetricResult,
        NotApplicable,
        Prediction,
        Probe,
        PromptIntervention,
        Reading,
        RecordedMetric,
        Selection,
        SteeringBenchmark,
        SteeringMethod,
        SteeringPlan,
        SteeringTask,
        SteeringUnit,
        attach_queries,
    )
    from plurieval.config import (
        CommaList,
        apply_overrides,
        build_run_config,
        load_config_file,
        split_assignment,
    )
    from plurieval.datafiles import atomic_write, cache_root, download
    from plurieval.errors import ConfigError, DataError, PluriError
    from plurieval.evaluate import DATA_ENV, choice_logprobs, data_path, generate_texts, run_explanation_benchmark
    from plurieval.hashing import content_hash, file_hash
    from plurieval.hashing import short as short_hash
    from plurieval.hookspecs import hookimpl
    from plurieval.host import get_host
    from plurieval.leaderboard.schema import JudgeAgreementFile, load_board
    from plurieval.locking import file_lock
    from plurieval.models import Generation, LanguageModel, load_default, load_gemma3, load_hf
    from plurieval.models import cache_dir as model_cache_dir
    from plurieval.models.interventions import (
        AddVector,
        Compose,
        DirectionalAblation,
        Intervention,
        NeuronIntervention,
        RowEdit,
        load_intervention,
    )
    from plurieval.redact import redact_uri, split_credentials
    from plurieval.resources import Embedder, Judge, KnowledgeBase, LanguageIdentifier, Resources
    from plurieval.results import encode_record, read_jsonl
    from plurieval.run import ModelWork, RunContext, RunView
    from plurieval.runner import execute, execute_run
    from plurieval.specs import BenchmarkSpec, DatasetSpec, MethodSpec, MetricSpec, ModelSpec, NoConfig, ResourceSpec
    from plurieval.stats import bootstrap_ci, mean, with_ci
    from plurieval.steering.activations import ActivationSet, collect_activations
    from plurieval.steering.config import DirectionConfig
    from plurieval.steering.directions import cosine_matrix, diff_mean, direction_for
    from plurieval.steering.lape import select_language_neurons
    from plurieval.steering.methods import DirectionMethod, induce
    from plurieval.steering.prompting import PromptRewrite, language_name
    from plurieval.steering.protocol import (
        fit_candidates,
        fit_standalone,
        paired_difference,
        post_instruction_positions,
    )
    from plurieval.steering.sae import feature_direction, select_features, train_sae
    from plurieval.text.degenerate import (
        DegenerateConfig,
        DegenerateVerdict,
        check_degenerate,
        is_degenerate,
        text_features,
        verdict_from_features,
    )
    from plurieval.text.echo import strip_echo
