"""Hook implementations of the steering plugin (kept import-light: no torch at module level)."""

from plurieval.api import MethodSpec, hookimpl

from .config import DiffMeanConfig, LAPEConfig, LDAConfig, PCAConfig, ProbeConfig, PromptingConfig, SAEConfig

_M = "plurieval_steering.methods:"


@hookimpl
def register_methods(register):
    register(MethodSpec(
        name="diffmean", factory=_M + "DiffMean", config=DiffMeanConfig, method_kind="steering", version="0.1.0",
        description="DiffMean: unit(mean(target) − mean(source)) residual activations at one layer, added × α at all positions",
        citation="CLaS-Bench (2025); Marks & Tegmark (2023), The Geometry of Truth",
    ))
    register(MethodSpec(
        name="pca", factory=_M + "PCASteering", config=PCAConfig, method_kind="steering", version="0.1.0",
        description="First principal component of pooled target+source activations (sign towards the target), added × α",
        citation="Zou et al. (2023), Representation Engineering",
    ))
    register(MethodSpec(
        name="lda", factory=_M + "LDASteering", config=LDAConfig, method_kind="steering", version="0.1.0",
        description="Fisher LDA direction Σ_w⁻¹Δμ with Ledoit–Wolf shrinkage (scikit-learn), added × α",
    ))
    register(MethodSpec(
        name="probe", factory=_M + "ProbeSteering", config=ProbeConfig, method_kind="steering", version="0.1.0",
        description="Weight vector of a logistic-regression probe target vs source (scikit-learn), added × α",
    ))
    register(MethodSpec(
        name="lape", factory=_M + "LAPESteering", config=LAPEConfig, method_kind="steering", version="0.1.0",
        description="LAPE language-specific MLP neurons: zero the source languages', set the target's to α × mean activation",
        citation="Tang et al. (2024), Language-Specific Neurons: The Key to Multilingual Capabilities in LLMs (ACL)",
    ))
    register(MethodSpec(
        name="sae", factory=_M + "SAESteering", config=SAEConfig, method_kind="steering", version="0.1.0",
        description="Small ReLU SAE trained on the layer's activations; decoder rows of the most target-selective features, added × α",
        citation="Bricken et al. (2023), Towards Monosemanticity",
    ))
    register(MethodSpec(
        name="prompting", factory=_M + "Prompting", config=PromptingConfig, method_kind="steering", version="0.1.0",
        description="Baseline: rewrite the prompt to '<prompt>\\n\\nAnswer in <language>.' (no hooks)",
    ))
