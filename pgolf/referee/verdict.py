"""The referee's verdict vocabulary: the levels, one rule's verdict, and the findings behind it.

Every rule module (``rules.py``, ``dataproof.py``) builds its verdicts from here, so the rule
modules never import each other for it.
"""

from __future__ import annotations

PASS, WARN, FAIL, NA = "pass", "warn", "fail", "n/a"
LEVELS = (NA, PASS, WARN, FAIL)  # worst last


def verdict(rule: str, status: str, detail: str, notes: list[str] | None = None, **numbers) -> dict:
    return dict(rule=rule, status=status, detail=detail, notes=list(notes or []), numbers=numbers)


def worst(levels) -> str:
    levels = list(levels)
    return max(levels, key=LEVELS.index) if levels else NA


class Findings:
    """Observations of one rule at their levels; the rule's status is the worst of them."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, level: str, text: str) -> None:
        self.items.append((level, text))

    def status(self, default: str = PASS) -> str:
        return worst(lv for lv, _ in self.items) if self.items else default

    def detail(self, ok: str) -> str:
        bad = [t for lv, t in self.items if lv in (WARN, FAIL)]
        return "; ".join(bad) if bad else ok

    def notes(self) -> list[str]:
        return [f"{lv}: {t}" for lv, t in self.items]
