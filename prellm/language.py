"""Which language the user wrote in, so the composed prompt asks for an answer in it.

The small model reports an ISO 639-1 code; a 1.5B model sometimes reports ``en``
for a Polish request, so unmistakable Polish in the query itself wins.
"""

from __future__ import annotations

import re

NAMES = {
    "en": "English",
    "pl": "Polish",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "nl": "Dutch",
    "cs": "Czech",
    "sk": "Slovak",
    "uk": "Ukrainian",
    "ru": "Russian",
    "sv": "Swedish",
    "da": "Danish",
    "no": "Norwegian",
    "fi": "Finnish",
    "ja": "Japanese",
    "zh": "Chinese",
    "ko": "Korean",
}

_POLISH_LETTERS = re.compile(r"[ąćęłńśźżĄĆĘŁŃŚŹŻ]")
_POLISH_WORDS = re.compile(
    r"\b(jak|czy|nie|się|jest|są|dla|oraz|mój|moja|moje|proszę|napisz|zrób|wdróż|dlaczego|"
    r"który|która|które|gdzie|kiedy|ile|mam|chcę|potrzebuję|aplikację|serwer)\b",
    re.I,
)


def detect(text: str) -> str | None:
    """Return ``pl`` when the text is clearly Polish, else None (no guess)."""
    if _POLISH_LETTERS.search(text) or len(_POLISH_WORDS.findall(text)) >= 2:
        return "pl"
    return None


def language_name(code: str | None, query: str) -> str:
    """The English name of the request's language, for "Answer in ..." in composed prompts."""
    detected = detect(query)
    if detected:
        return NAMES[detected]
    code = (code or "").strip().lower()[:2]
    return NAMES.get(code, "English" if not code else "the language of the request")
