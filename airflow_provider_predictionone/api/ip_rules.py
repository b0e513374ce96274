"""IP access rules of a prediction API (spec 4.10): the rule, and what a user may give, checked and
normalised before any request (at DAG parse time for literal rules: this module is light)."""

from __future__ import annotations

import ast
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_predictionone.api.errors import PredictionOneConfigError


@dataclass(frozen=True)
class IpRule:
    """An IP access rule of a prediction API (spec 4.10)."""

    source: str
    order: str
    priority: int

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "order": self.order, "priority": self.priority}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IpRule:
        return cls(str(data.get("source")), str(data.get("order")), int(data.get("priority") or 0))


ALLOW_ALL = (IpRule("0.0.0.0/0", "allow", 0),)
"""The default rule set: every caller may use the prediction API."""

RULE_ORDERS = ("allow", "deny")
RULE_KEYS = ("source", "order", "priority")


def _rules_from_text(text: str) -> Any:
    # A rendered template is text: JSON, or the Python repr of a list param (non-native rendering).
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise PredictionOneConfigError(
            f"rules={text[:200]!r} is text that is neither JSON nor a Python list. Pass a list of "
            '{"source": "203.0.113.0/24", "order": "allow", "priority": 0} rules.'
        ) from None


def _rule_source(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PredictionOneConfigError(
            f"{where} has source={value!r}; it must be an IP range in CIDR notation, e.g. '203.0.113.0/24' "
            "(or '0.0.0.0/0' for every caller)."
        )
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise PredictionOneConfigError(
            f"{where} has source={value!r}, which is not an IP range in CIDR notation. Write it like "
            "'203.0.113.0/24', '198.51.100.7/32' or '0.0.0.0/0' (every caller)."
        ) from None
    # A range with host bits set ("10.0.0.5/24") is sent as its network ("10.0.0.0/24").
    return network.with_prefixlen


def _rule_order(where: str, value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in RULE_ORDERS:
        raise PredictionOneConfigError(f"{where} has order={value!r}; it must be 'allow' or 'deny'.")
    return text


def _rule_priority(where: str, value: Any) -> int:
    if isinstance(value, bool):
        raise PredictionOneConfigError(f"{where} has priority={value!r}; it must be a whole number, e.g. 0.")
    try:
        number = int(value) if isinstance(value, int) else int(str(value).strip())
    except (TypeError, ValueError):
        raise PredictionOneConfigError(f"{where} has priority={value!r}; it must be a whole number, e.g. 0.") from None
    return number


def normalize_rules(rules: Any) -> tuple[IpRule, ...]:
    """Check IP rules (spec 4.10) and return them as :class:`IpRule` objects.

    Each rule is an :class:`IpRule` or a mapping with exactly the keys ``source`` (an IP range in
    CIDR notation; a bare address means ``/32`` or ``/128``), ``order`` (``"allow"`` or ``"deny"``)
    and ``priority`` (a whole number). A JSON text of such a list (a rendered template) is accepted.

    :param rules: the rules as given by the user.
    :return: the rules, with each ``source`` written as its network (``10.0.0.5/24`` → ``10.0.0.0/24``).
    :raises PredictionOneConfigError: naming the rule at fault and how to fix it.
    """
    return tuple(IpRule(source, order, priority) for source, order, priority in _checked_rules(rules))


def _checked_rules(rules: Any) -> list[tuple[str, str, int]]:
    if isinstance(rules, str):
        rules = _rules_from_text(rules)
    if isinstance(rules, (IpRule, Mapping)):
        rules = [rules]
    if not isinstance(rules, (list, tuple)):
        raise PredictionOneConfigError(
            f"rules={rules!r} must be a list of rules, each an IpRule or "
            '{"source": "203.0.113.0/24", "order": "allow", "priority": 0}.'
        )
    if not rules:
        raise PredictionOneConfigError(
            "rules is empty: the prediction API would accept no caller. Leave rules unset (None) to allow every "
            "caller, or give at least one rule (a 'deny' rule for 0.0.0.0/0 blocks everyone explicitly)."
        )
    checked = []
    for index, rule in enumerate(rules):
        where = f"rules[{index}]"
        if isinstance(rule, IpRule):
            source, order, priority = rule.source, rule.order, rule.priority
        elif isinstance(rule, Mapping):
            unknown = sorted(str(key) for key in rule if key not in RULE_KEYS)
            missing = [key for key in RULE_KEYS if key not in rule]
            if unknown or missing:
                problems = []
                if missing:
                    problems.append(f"missing {', '.join(missing)}")
                if unknown:
                    problems.append(f"unknown {', '.join(unknown)}")
                raise PredictionOneConfigError(
                    f"{where}={dict(rule)!r} has {'; '.join(problems)}. A rule has exactly the keys source, order "
                    'and priority, e.g. {"source": "203.0.113.0/24", "order": "allow", "priority": 0}.'
                )
            source, order, priority = rule["source"], rule["order"], rule["priority"]
        else:
            raise PredictionOneConfigError(
                f"{where}={rule!r} is not a rule; pass an IpRule or "
                '{"source": "203.0.113.0/24", "order": "allow", "priority": 0}.'
            )
        checked.append((_rule_source(where, source), _rule_order(where, order), _rule_priority(where, priority)))
    return checked


def same_rules(current: Sequence[IpRule], wanted: Sequence[IpRule]) -> bool:
    if not current:
        return not wanted
    try:
        return normalize_rules(list(current)) == tuple(wanted)
    except PredictionOneConfigError:  # the service holds rules we would not write: they differ
        return False
