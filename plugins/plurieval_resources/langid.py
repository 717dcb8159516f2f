"""Language identifiers (resource role ``language_identifier``): ``detect(texts) -> list[str]``
of ISO 639-1 codes ("und" when a text is empty or the backend cannot decide).

Three backends, chosen for what they are good at:

- ``py3langid`` (default): offline, 97 languages, ~0.1 ms/sentence, 99 % on short sentences here.
- ``lingua``: most accurate on short texts; restricted to the requested languages (loading all
  75 models costs ~18 s and 1.3 GB). Optional dependency ``lingua-language-detector``.
- ``fasttext``: the CLaS-Bench paper's backend, NLLB's ``lid218e.bin`` (or any fastText LID
  model) given by path; labels like ``__label__eng_Latn`` are mapped to ISO 639-1. Optional
  dependency ``fasttext-predict`` (prediction-only fastText wheels).
"""

from __future__ import annotations

import re
from pathlib import Path

from plurieval.api import PluriError

from .config import FastTextLIDConfig, LinguaLIDConfig, Py3LangidConfig

UNDETERMINED = "und"
_WS = re.compile(r"\s+")

# ISO 639-3 (as used in NLLB/FLORES-200 labels) → ISO 639-1 where one exists. Individual
# languages of a macrolanguage map to the macrolanguage's code (arb/ary/arz → ar, pes → fa,
# zsm → ms, ...), because that is what the other backends return.
ISO639_3_TO_1 = {
    "afr": "af", "amh": "am", "arb": "ar", "ary": "ar", "arz": "ar", "acm": "ar", "acq": "ar", "aeb": "ar",
    "ajp": "ar", "apc": "ar", "ars": "ar", "ara": "ar", "asm": "as", "azj": "az", "azb": "az", "aze": "az",
    "bak": "ba", "bel": "be", "bul": "bg", "ben": "bn", "bod": "bo", "bos": "bs", "cat": "ca", "ces": "cs",
    "cym": "cy", "dan": "da", "deu": "de", "ell": "el", "eng": "en", "epo": "eo", "spa": "es", "est": "et",
    "ekk": "et", "eus": "eu", "pes": "fa", "prs": "fa", "fas": "fa", "fin": "fi", "fao": "fo", "fra": "fr",
    "gle": "ga", "gla": "gd", "glg": "gl", "grn": "gn", "guj": "gu", "hau": "ha", "heb": "he", "hin": "hi",
    "hrv": "hr", "hat": "ht", "hun": "hu", "hye": "hy", "ind": "id", "ibo": "ig", "isl": "is", "ita": "it",
    "jpn": "ja", "jav": "jv", "kat": "ka", "kaz": "kk", "khm": "km", "kan": "kn", "kor": "ko", "kas": "ks",
    "kmr": "ku", "ckb": "ku", "kir": "ky", "ltz": "lb", "lug": "lg", "lim": "li", "lin": "ln", "lao": "lo",
    "lit": "lt", "lvs": "lv", "lav": "lv", "plt": "mg", "mri": "mi", "mkd": "mk", "mal": "ml", "khk": "mn",
    "mon": "mn", "mar": "mr", "zsm": "ms", "msa": "ms", "mlt": "mt", "mya": "my", "nob": "nb", "npi": "ne",
    "nep": "ne", "nld": "nl", "nno": "nn", "nya": "ny", "oci": "oc", "gaz": "om", "ory": "or", "pan": "pa",
    "pol": "pl", "pbt": "ps", "por": "pt", "quy": "qu", "ron": "ro", "rus": "ru", "kin": "rw", "san": "sa",
    "srd": "sc", "snd": "sd", "sag": "sg", "sin": "si", "slk": "sk", "slv": "sl", "smo": "sm", "sna": "sn",
    "som": "so", "als": "sq", "sqi": "sq", "srp": "sr", "ssw": "ss", "sot": "st", "sun": "su", "swe": "sv",
    "swh": "sw", "swa": "sw", "tam": "ta", "tel": "te", "tgk": "tg", "tha": "th", "tir": "ti", "tuk": "tk",
    "tgl": "tl", "tsn": "tn", "tur": "tr", "tso": "ts", "tat": "tt", "uig": "ug", "ukr": "uk", "urd": "ur",
    "uzn": "uz", "uzb": "uz", "vie": "vi", "wol": "wo", "xho": "xh", "ydd": "yi", "yid": "yi", "yor": "yo",
    "yue": "zh", "zho": "zh", "cmn": "zh", "wuu": "zh", "hak": "zh", "nan": "zh", "gan": "zh", "hsn": "zh", "zul": "zu", "ace": None, "fil": "tl", "nso": None,
}


def to_iso639_1(code: str) -> str:
    """Map an ISO 639-3 code (or a variety such as ``arz``, ``wuu``) to ISO 639-1 where one exists;
    2-letter codes and unknown codes pass through unchanged."""
    code = code.lower()
    return code if len(code) == 2 else (ISO639_3_TO_1.get(code) or code)


def fasttext_label_to_iso(label: str) -> str:
    """``__label__eng_Latn`` → ``en``; codes without an ISO 639-1 form stay ISO 639-3
    (``__label__ace_Arab`` → ``ace``); ``__label__en`` (lid.176 style) → ``en``."""
    return to_iso639_1(label.removeprefix("__label__").split("_")[0])


def _clean(text: str) -> str:
    return _WS.sub(" ", text or "").strip()


class Py3LangidIdentifier:
    """py3langid (Lui & Baldwin's langid.py, numpy port). ``languages`` restricts the label set."""

    def __init__(self, config: Py3LangidConfig):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.config = config
        # The model ships with py3langid as a compressed numpy archive (no pickle).
        self._ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        if config.languages:
            unknown = sorted(set(config.languages) - set(map(str, self._ident.nb_classes)))
            if unknown:
                raise PluriError(f"py3langid does not know language(s) {unknown}; it knows {sorted(map(str, self._ident.nb_classes))}")
            self._ident.set_languages(list(config.languages))
        self.languages = list(config.languages or map(str, self._ident.nb_classes))

    def detect(self, texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            t = _clean(text)
            if not t:
                out.append(UNDETERMINED)
                continue
            lang, prob = self._ident.classify(t)
            # py3langid also returns varieties (arz, wuu, ...): report their macrolanguage.
            out.append(to_iso639_1(lang) if prob >= self.config.min_confidence else UNDETERMINED)
        return out


class LinguaIdentifier:
    """lingua-language-detector, restricted to ``languages`` (required: loading every model is
    slow and makes short texts less accurate)."""

    def __init__(self, config: LinguaLIDConfig):
        try:
            from lingua import IsoCode639_1, LanguageDetectorBuilder
        except ImportError:
            raise PluriError(
                "the 'lingua' language identifier needs the optional package lingua-language-detector: "
                "pip install 'plurieval[lingua]' (or use the default 'py3langid')"
            ) from None
        codes = []
        for code in config.languages:
            try:
                codes.append(getattr(IsoCode639_1, code.upper()))
            except AttributeError:
                raise PluriError(f"lingua does not support language {code!r}") from None
        builder = LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        if config.low_accuracy_mode:
            builder = builder.with_low_accuracy_mode()
        self._detector = builder.build()
        self.languages = list(config.languages)

    def detect(self, texts: list[str]) -> list[str]:
        out = []
        for text in texts:
            t = _clean(text)
            lang = self._detector.detect_language_of(t) if t else None
            out.append(lang.iso_code_639_1.name.lower() if lang is not None else UNDETERMINED)
        return out


class FastTextIdentifier:
    """A fastText LID model by path (the CLaS-Bench paper uses NLLB's ``lid218e.bin``)."""

    def __init__(self, config: FastTextLIDConfig):
        path = Path(config.model_path).expanduser()
        if not path.is_file():
            raise PluriError(
                f"fastText LID model {str(path)!r} not found; download NLLB's lid218e.bin "
                "(https://github.com/facebookresearch/fairseq/tree/nllb#lid-model) and pass "
                "model_path=/path/to/lid218e.bin"
            )
        try:
            import fasttext
        except ImportError:
            raise PluriError(
                "the 'fasttext' language identifier needs the optional package fasttext-predict: "
                "pip install 'plurieval[fasttext]'"
            ) from None
        self.config = config
        self._model = fasttext.load_model(str(path))
        self.languages = sorted({fasttext_label_to_iso(lab) for lab in self._model.get_labels()})

    def detect(self, texts: list[str]) -> list[str]:
        cleaned = [_clean(t) for t in texts]
        out = [UNDETERMINED] * len(texts)
        todo = [i for i, t in enumerate(cleaned) if t]
        if todo:
            labels, probs = self._model.predict([cleaned[i] for i in todo], k=1)
            for i, lab, p in zip(todo, labels, probs, strict=True):
                if lab and float(p[0]) >= self.config.min_confidence:
                    out[i] = fasttext_label_to_iso(lab[0])
        return out


__all__ = ["FastTextIdentifier", "LinguaIdentifier", "Py3LangidIdentifier", "fasttext_label_to_iso", "to_iso639_1"]
