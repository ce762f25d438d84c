"""Personal data in what customers wrote, masked before it leaves the history database (the
support team's report, fine-tuning exports)."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
# A run of digits with the separators phone numbers are written with. Dates, order numbers
# and versions are told apart by the checks in _phone, not here. Latin letters and digits
# only around it: in Japanese or Chinese a number sits right against the words.
_PHONE = re.compile(r"(?<![0-9A-Za-z_#+])(?:\+|00)?\(?\d[\d ()./-]{5,}\d(?![0-9A-Za-z_])")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DATE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")


def _phone(match: re.Match) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    international = text.startswith(("+", "00"))
    if not 8 <= digits <= 15 or _DATE.fullmatch(text.strip("()")):
        return text
    if _IPV4.fullmatch(text):
        return text
    # Without a country code, a phone number has a trunk 0 or separators between groups,
    # and nine digits or more: an order or ticket number is a bare run of digits.
    if international or (digits >= 9 and (text.startswith(("0", "(")) or
                                           re.search(r"\d[ ()/-]+\d", text))):
        return "[phone]"
    return text


def mask_personal(text: str) -> str:
    """The text with e-mail addresses and phone numbers replaced by [email] and [phone]:
    what customers write about themselves stays out of reports that a team passes around."""
    if not text:
        return text
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub(_phone, text)
