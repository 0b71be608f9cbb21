"""Wording of counts and names in titles and reports."""
from __future__ import annotations


def count(n: int, noun: str, plural: str = '') -> str:
    """``'1 video'``, ``'2 videos'`` (``plural``: the plural form when not ``noun + 's'``)."""
    return f'{n} {noun if n == 1 else (plural or noun + "s")}'


def side_label(name: str, letter: str) -> str:
    """``'baseline (A)'`` for a compared method, or just ``'A'`` when it is already named so."""
    return name if str(name).strip().upper() == letter.upper() else f'{name} ({letter})'
