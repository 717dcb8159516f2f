"""The prompting baseline as an "intervention": it rewrites prompts instead of hooking the
model. ``PromptRewrite`` is a ``plurieval.components.PromptIntervention``: generation
(``RunContext.generate_rows``) applies ``rewrite`` to the prompts and runs *without* hooks, so
prompting goes through the same protocol (and the same cache keys, via the rewritten prompt
text) as every hook-based method."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plurieval.components import PromptIntervention

LANGUAGE_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "da": "Danish", "de": "German", "el": "Greek", "en": "English", "es": "Spanish", "et": "Estonian",
    "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian",
    "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "ko": "Korean", "lt": "Lithuanian",
    "lv": "Latvian", "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian", "sv": "Swedish",
    "sw": "Swahili", "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish",
    "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "yi": "Yiddish", "yo": "Yoruba", "zh": "Chinese",
}


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


@dataclass(frozen=True)
class PromptRewrite(PromptIntervention):
    """``template`` gets ``{prompt}`` and ``{language}`` (the target language's English name)."""

    template: str
    language: str

    def rewrite(self, prompts: list[str]) -> list[str]:
        name = language_name(self.language)
        return [self.template.format(prompt=p, language=name) for p in prompts]

    # Cache keys and manifests describe interventions through these two methods.
    def params(self) -> dict[str, Any]:
        return {"template": self.template, "language": self.language}

    def tensors(self) -> dict[str, Any]:
        return {}

    type_name = "prompt_rewrite"


__all__ = ["LANGUAGE_NAMES", "PromptRewrite", "language_name"]
