"""The dashboard's two languages: English text is the key, ``ZH`` its simplified Chinese.

The language is the account's choice (``users.lang``), else the browser's
``Accept-Language`` before sign-in. A text missing from ``ZH`` shows in English; a test
checks that none is missing.
"""
from __future__ import annotations

from flask import request
from flask_login import current_user

LANGS = ("en", "zh-CN")


def current_lang() -> str:
    if current_user.is_authenticated:
        lang: str = current_user.user.lang
        return lang if lang in LANGS else "en"
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default="en")
    return "zh-CN" if best.startswith("zh") else "en"


def gettext(text: str, **values: object) -> str:
    """``text`` in the current language, ``{name}`` fields filled from ``values``."""
    translated = ZH.get(text, text) if current_lang() == "zh-CN" else text
    return translated.format(**values) if values else translated


ZH: dict[str, str] = {}
