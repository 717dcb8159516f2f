"""The model layer: Hugging Face causal LMs with named hook points, batched generation,
activation extraction and composable interventions (see docs/models.md).

Importing this package imports torch; plugin modules must import it lazily (in factories).
"""

from plurieval.models.interventions import (
    AddVector,
    Compose,
    DirectionalAblation,
    Intervention,
    NeuronIntervention,
    load_intervention,
)
from plurieval.models.lm import Generation, LanguageModel
from plurieval.models.loading import cache_dir, load_default, load_gemma3, load_hf, quantize_int8

__all__ = [
    "AddVector",
    "Compose",
    "DirectionalAblation",
    "Generation",
    "Intervention",
    "LanguageModel",
    "NeuronIntervention",
    "cache_dir",
    "load_default",
    "load_gemma3",
    "load_hf",
    "load_intervention",
    "quantize_int8",
]
