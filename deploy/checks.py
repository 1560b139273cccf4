"""Checks of deploy/ that no off-the-shelf validator makes; run by deploy/check.sh.

    python checks.py exprs     dashboard and alert expressions name only known metrics and labels;
                               every alert has its severity, annotations, runbook entry and tests
    python checks.py compose   compose.yaml's build contexts, bind mounts, volumes and dependencies exist
    python checks.py configs   the ratewire.toml files under deploy/ use only known fields

Run from deploy/. Prints one line per problem, naming the file, and exits 1
if there is any. Needs PyYAML (in the project's venv).
"""

import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parent
DOCS_OPERATIONS = DEPLOY.parent / "docs" / "operations.md"

# PromQL's functions and keywords (Prometheus 2.x and 3.x).
FUNCTIONS = set("""
abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
clamp_min cos cosh count_over_time days_in_month day_of_month day_of_week day_of_year deg delta deriv
exp floor histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev
histogram_stdvar histogram_sum holt_winters double_exponential_smoothing hour idelta increase irate
label_join label_replace last_over_time ln log10 log2 mad_over_time max_over_time min_over_time minute
month pi predict_linear present_over_time quantile_over_time rad rate resets round scalar sgn sin sinh
sort sort_by_label sort_by_label_desc sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time
tan tanh time timestamp vector year
sum min max avg group stddev stdvar count count_values bottomk topk quantile limitk limit_ratio
""".split())
KEYWORDS = set("by without on ignoring group_left group_right and or unless offset bool atan2 inf nan start end".split())
# Labels every scraped series has, and the histogram bucket label.
TARGET_LABELS = {"job", "instance", "le", "__name__"}
# Grafana's template functions in variable queries.
GRAFANA_FUNCTIONS = {"label_values", "query_result", "metrics", "label_names"}

problems = []


def problem(path, message):
    problems.append(f"{path}: {message}")


def load_metrics():
    """name -> (type, labels) from metrics.txt."""
    metrics = {}
    for line in (DEPLOY / "metrics.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        labels = set(fields[2].split(",")) if len(fields) > 2 else set()
        metrics[fields[0]] = (fields[1], labels)
    return metrics


def series_names(metrics):
    """Every series name a query may use: histograms add _bucket, _sum and _count."""
    names = {}
    for name, (kind, labels) in metrics.items():
        names[name] = labels
        if kind == "histogram":
            names[name + "_bucket"] = labels | {"le"}
            names[name + "_sum"] = labels
            names[name + "_count"] = labels
    return names


def strip_grafana_variables(expr):
    # $__rate_interval, ${DS}, [[var]]: durations and values, never names.
    expr = re.sub(r"\$\{[^}]*\}|\$\w+|\[\[\w+\]\]", "1m", expr)
    return expr


def check_expr(path, where, expr, names, all_labels):
    """Unknown metric names, functions and label names in one PromQL expression."""
    text = strip_grafana_variables(expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', text)
    # Label matchers: check the label names, then drop the braces.
    for body in re.findall(r"\{([^}]*)\}", text):
        for label in re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", body):
            if label not in all_labels:
                problem(path, f"{where}: unknown label {label!r} in {expr!r}")
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    # Grouping clauses: check the label names, then drop them.
    for body in re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        for label in re.findall(r"[A-Za-z_]\w*", body):
            if label not in all_labels:
                problem(path, f"{where}: unknown label {label!r} in {expr!r}")
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    used = False
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", text):
        token = match.group(0)
        if token in FUNCTIONS or token in KEYWORDS:
            continue
        if text[match.end():].lstrip().startswith("("):
            problem(path, f"{where}: unknown function {token!r} in {expr!r}")
        elif token in names:
            used = True
        else:
            problem(path, f"{where}: unknown metric {token!r} in {expr!r}")
    if not used:
        problem(path, f"{where}: names no metric: {expr!r}")


def dashboard_panels(panels):
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def check_dashboard(names, all_labels):
    path = "grafana/ratewire.json"
    try:
        dashboard = json.loads((DEPLOY / path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        problem(path, f"does not parse: {e}")
        return
    if not isinstance(dashboard.get("schemaVersion"), int):
        problem(path, "no schemaVersion")
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    if variables.get("DS_PROMETHEUS", {}).get("type") != "datasource":
        problem(path, "no datasource variable DS_PROMETHEUS")
    for name, variable in variables.items():
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        call = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_]\w*)\s*\)\s*", query)
        if call is None:
            problem(path, f"variable {name}: expected label_values(QUERY, LABEL), found {query!r}")
            continue
        check_expr(path, f"variable {name}", call.group(1), names, all_labels)
        if call.group(2) not in all_labels:
            problem(path, f"variable {name}: unknown label {call.group(2)!r}")
    ids = set()
    exprs = 0
    for panel in dashboard_panels(dashboard.get("panels", [])):
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            problem(path, f"panel {title!r}: id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        if "gridPos" not in panel:
            problem(path, f"panel {title!r}: no gridPos")
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            problem(path, f"panel {title!r}: no query")
        for target in targets:
            if target.get("datasource", panel.get("datasource")) != {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}:
                problem(path, f"panel {title!r}: data source is not ${{DS_PROMETHEUS}}")
            expr = target.get("expr")
            if not expr:
                problem(path, f"panel {title!r}: a query without expr")
                continue
            exprs += 1
            check_expr(path, f"panel {title!r}", expr, names, all_labels)
    print(f"{path}: {len(ids)} panels, {exprs} expressions")


def runbook_anchors():
    """GitHub's anchors of the headings in docs/operations.md."""
    anchors = set()
    try:
        text = DOCS_OPERATIONS.read_text()
    except OSError:
        return anchors
    for heading in re.findall(r"^#+\s+(.*?)\s*$", text, re.MULTILINE):
        anchor = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(anchor)
    return anchors


def check_alerts(names, all_labels):
    path = "prometheus/alerts.yml"
    rules = yaml.safe_load((DEPLOY / path).read_text())
    anchors = runbook_anchors()
    alerts = []
    for group in rules.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert") or rule.get("record")
            check_expr(path, name, rule.get("expr", ""), names, all_labels)
            if "alert" not in rule:
                continue
            alerts.append(name)
            if "for" not in rule:
                problem(path, f"{name}: no `for`")
            if rule.get("labels", {}).get("severity") not in ("critical", "warning"):
                problem(path, f"{name}: severity is not critical or warning")
            annotations = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not annotations.get(key):
                    problem(path, f"{name}: no {key} annotation")
            runbook = annotations.get("runbook_url", "")
            expected = f"docs/operations.md#{name.lower()}"
            if runbook != expected:
                problem(path, f"{name}: runbook_url is {runbook!r}, expected {expected!r}")
            elif name.lower() not in anchors:
                problem("../docs/operations.md", f"no heading for the runbook anchor #{name.lower()} of {name}")
    tests_path = "prometheus/alerts_test.yml"
    tests = yaml.safe_load((DEPLOY / tests_path).read_text())
    fires, quiet = set(), set()
    for test in tests.get("tests", []):
        for case in test.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case.get("alertname"))
    for name in alerts:
        if name not in fires:
            problem(tests_path, f"{name}: no test in which it fires")
        if name not in quiet:
            problem(tests_path, f"{name}: no test in which it stays quiet")
    print(f"{path}: {len(alerts)} alerts, each with a runbook entry and tests")


def check_exprs():
    metrics = load_metrics()
    names = series_names(metrics)
    all_labels = TARGET_LABELS.union(*(labels for _, labels in metrics.values()))
    check_dashboard(names, all_labels)
    check_alerts(names, all_labels)


def check_compose():
    path = "compose.yaml"
    compose = yaml.safe_load((DEPLOY / path).read_text())
    services = compose.get("services", {})
    volumes = set((compose.get("volumes") or {}).keys())
    for name, service in services.items():
        build = service.get("build")
        if build:
            context = DEPLOY / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
            if not context.is_dir():
                problem(path, f"{name}: build context {context} is not a directory")
            if not dockerfile.is_file():
                problem(path, f"{name}: no Dockerfile {dockerfile}")
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source.startswith((".", "/")):
                if not (DEPLOY / source).exists():
                    problem(path, f"{name}: bind-mount source {source} does not exist")
            elif source not in volumes:
                problem(path, f"{name}: volume {source!r} is not declared under volumes")
        depends = service.get("depends_on", [])
        for other in depends if isinstance(depends, list) else depends.keys():
            if other not in services:
                problem(path, f"{name}: depends on unknown service {other!r}")
    print(f"{path}: {len(services)} services")


def known_fields():
    """section -> fields, from deploy/examples/ratewire.toml, which lists every field."""
    example = tomllib.loads((DEPLOY / "examples" / "ratewire.toml").read_text())
    return {section: set(fields) for section, fields in example.items()}


def check_config(path, text, known, container):
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        problem(path, f"does not parse as TOML: {e}")
        return
    for section, fields in config.items():
        if section not in known:
            problem(path, f"unknown section [{section}]")
            continue
        for field in fields:
            if field not in known[section] and not (section == "kafka" and field == "properties"):
                problem(path, f"unknown field {section}.{field}")
    listen = config.get("http", {}).get("listen", "127.0.0.1:9464")
    if container and listen.startswith(("127.", "[::1]")):
        problem(path, f"http.listen {listen} is loopback: unreachable from outside the container")
    print(f"{path}: ok")


def check_configs():
    known = known_fields()
    path = "compose/ratewire.toml"
    check_config(path, (DEPLOY / path).read_text(), known, container=True)
    path = "kubernetes/configmap.yaml"
    for document in yaml.safe_load_all((DEPLOY / path).read_text()):
        if document and document.get("kind") == "ConfigMap" and "ratewire.toml" in document.get("data", {}):
            check_config(f"{path} (ratewire.toml)", document["data"]["ratewire.toml"], known, container=True)


def main():
    commands = {"exprs": check_exprs, "compose": check_compose, "configs": check_configs}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(f"usage: {sys.argv[0]} {' | '.join(commands)}", file=sys.stderr)
        return 2
    try:
        commands[sys.argv[1]]()
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
        problem(sys.argv[1], f"could not be checked: {e!r}")
    for line in problems:
        print(f"FAILED {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
