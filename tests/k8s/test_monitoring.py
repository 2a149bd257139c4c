"""Grafana dashboard and alert rules: valid PromQL over metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

import dataflows.kafka_flow  # noqa: F401  (registers the sink metrics)
from invsync.metrics import exported_metric_names

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "k8s" / "monitoring"
# Prometheus's own series and Grafana's interval variables.
BUILTIN_NAMES = {"up"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def _reserved_names() -> set[str]:
    """Return metric names docs/metrics.md reserves for code not yet written."""
    text = (REPO / "docs" / "metrics.md").read_text()
    section = text.split("## Reserved names", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`(invsync_[a-z0-9_]+)`", section))


def _known_names() -> set[str]:
    return exported_metric_names() | _reserved_names() | BUILTIN_NAMES


def _selectors(node: Any) -> set[str]:
    """Return the metric names of every vector selector in a parsed expression."""
    if isinstance(node, promql_parser.VectorSelector):
        names = {node.name} if node.name else set()
        for matcher in node.matchers.matchers:
            if matcher.name == "__name__":
                names.add(matcher.value)
        return names
    if isinstance(node, promql_parser.MatrixSelector):
        return _selectors(node.vector_selector)
    if isinstance(node, promql_parser.Call):
        return set().union(*(_selectors(arg) for arg in node.args))
    if isinstance(node, promql_parser.BinaryExpr):
        return _selectors(node.lhs) | _selectors(node.rhs)
    if isinstance(node, promql_parser.AggregateExpr):
        inner = _selectors(node.expr)
        return inner | (_selectors(node.param) if node.param is not None else set())
    if isinstance(
        node,
        promql_parser.ParenExpr | promql_parser.UnaryExpr | promql_parser.SubqueryExpr,
    ):
        return _selectors(node.expr)
    return set()


def _parse(expr: str) -> set[str]:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return _selectors(promql_parser.parse(expr))


def _dashboard_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    found = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def _rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [rule for group in document["spec"]["groups"] for rule in group["rules"]]


def test_selector_walk_finds_names() -> None:
    names = _parse(
        "histogram_quantile(0.9, sum by (le) (rate(a_bucket[$__rate_interval])))"
        " / on() group_left max(b) + -(c offset 5m) + max_over_time(d[1h:5m])"
    )

    assert names == {"a_bucket", "b", "c", "d"}


def test_unbalanced_expression_rejected() -> None:
    with pytest.raises(ValueError, match="unclosed left parenthesis"):
        promql_parser.parse("sum(rate(invsync_atp_records_total[5m])")


@pytest.mark.parametrize(("title", "expr"), _dashboard_exprs())
def test_dashboard_query_known_metrics(title: str, expr: str) -> None:
    names = _parse(expr)

    assert names, title
    assert names <= _known_names(), f"{title}: unknown {names - _known_names()}"


def test_dashboard_panels_unique() -> None:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    titles = [panel["title"] for panel in dashboard["panels"]]

    assert len(ids) == len(set(ids))
    assert len(titles) == len(set(titles))
    assert dashboard["uid"] == "invsync-ops"


def test_dashboard_covers_business_metrics() -> None:
    used = set().union(*(_parse(expr) for _, expr in _dashboard_exprs()))

    assert {
        "invsync_events_consumed_total",
        "invsync_event_lag_seconds_bucket",
        "invsync_dead_letters_total",
        "invsync_oversold_pairs",
        "invsync_backordered_units",
        "invsync_warehouse_stale",
        "invsync_variance_alerts_open",
    } <= used


@pytest.mark.parametrize("rule", _rules(), ids=lambda r: r["alert"])
def test_alert_rule_parses(rule: dict[str, Any]) -> None:
    names = _parse(rule["expr"])

    assert names <= _known_names(), f"unknown {names - _known_names()}"
    assert names
    assert rule["labels"]["severity"] in {"info", "warning", "critical"}
    assert rule["annotations"]["summary"]
    assert re.fullmatch(r"\d+[smh]", rule["for"])


def test_alerts_cover_required_topics() -> None:
    used = set().union(*(_parse(rule["expr"]) for rule in _rules()))

    assert "invsync_warehouse_stale" in used
    assert "invsync_event_lag_seconds_bucket" in used
    assert "invsync_dead_letters_total" in used
    assert "invsync_variance_alerts_open" in used
