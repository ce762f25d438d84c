"""Personal data in what customers wrote, masked before it leaves the history database (the
support team's report, fine-tuning exports)."""

from __future__ import annotations

import re

#: an e-mail address
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zA-Z]{2,}")
#: a phone number: an international one (+49 30 1234567, +1 (415) 555-0100) or a national one
#: written in groups (030 1234 5678, (415) 555-0100, 06-12345678). Order numbers, codes and
#: dates are left alone: a plain run of digits (48213, 20261205) is no phone number here.
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s./-]?(?:\(\d{1,4}\)[\s./-]?)?\d{1,4}(?:[\s./-]?\d{2,5}){1,4}"
    r"|\(?0\d{1,4}\)?[\s./-]\d{2,8}(?:[\s./-]\d{2,5}){0,3}"
    r"|\(\d{3}\)\s?\d{3}[\s.-]\d{4})(?![\w])")
#: phone numbers have at least this many digits; shorter runs are times, prices, versions
PHONE_DIGITS = 8


def mask_personal(text: str) -> str:
    """`text` with e-mail addresses and phone numbers replaced by [email] and [phone]."""
    text = EMAIL.sub("[email]", text)

    def phone(match: re.Match) -> str:
        found = match.group(0)
        digits = sum(ch.isdigit() for ch in found)
        return "[phone]" if digits >= PHONE_DIGITS else found

    return PHONE.sub(phone, text)
