"""The IP rules of a prediction API (spec 4.10, 4.12): their validation and their verdict on a caller."""

from __future__ import annotations

import ipaddress
from typing import Any

from airflow_provider_predictionone.emulator.web import bad_request


def source_ip_allowed(address: str, rules: list[dict[str, Any]]) -> bool:
    """Apply prediction-API IP rules to a caller address.

    Rules are tried by ascending ``priority`` (ties keep their list order); the first rule whose
    CIDR ``source`` contains the address decides (``allow``/``deny``); no match denies. An
    IPv4-mapped IPv6 address is treated as its IPv4 address; a ``/0`` range matches any address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for rule in sorted(rules, key=lambda r: r["priority"]):
        network = ipaddress.ip_network(rule["source"], strict=False)
        if network.prefixlen == 0 or (network.version == ip.version and ip in network):
            return rule["order"] == "allow"
    return False


def parse_rules(raw: Any) -> list[dict[str, Any]]:
    """Validate ``rules`` of Create/Update Classifier; raise a bad request with a clear message."""
    if not isinstance(raw, list):
        raise bad_request("rules must be a list of {source, order, priority} objects.")
    rules = []
    for i, rule in enumerate(raw):
        if not isinstance(rule, dict):
            raise bad_request(f"rules[{i}] must be an object with source, order and priority.")
        source, order, priority = rule.get("source"), rule.get("order"), rule.get("priority")
        if not isinstance(source, str):
            raise bad_request(f"rules[{i}].source must be an IP range in CIDR notation, e.g. 0.0.0.0/0.")
        try:
            ipaddress.ip_network(source.strip(), strict=False)
        except ValueError:
            raise bad_request(f"rules[{i}].source must be an IP range in CIDR notation, e.g. 0.0.0.0/0.") from None
        if order not in ("allow", "deny"):
            raise bad_request(f'rules[{i}].order must be "allow" or "deny".')
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise bad_request(f"rules[{i}].priority must be an integer.")
        rules.append({"source": source.strip(), "order": order, "priority": priority})
    return rules
