#!/usr/bin/python3
"""Reads GET /metrics with the Prometheus project's own parser (Debian's
python3-prometheus-client) and checks what a run of N running instances must show.
usage: metrics_check.py URL RUNNING_INSTANCES"""
import os
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

url, running = sys.argv[1], int(sys.argv[2])
# A token of the metrics role, as Prometheus scrapes with.
req = urllib.request.Request(url, headers={"Authorization": "Bearer " + os.environ["KUIGA_TOKEN"]})
text = urllib.request.urlopen(req, timeout=10).read().decode()
families = {f.name: f for f in text_string_to_metric_families(text)}


def fail(msg):
    print("metrics_check: " + msg, file=sys.stderr)
    sys.exit(1)


def value(name, **labels):
    family = name[: -len("_count")] if name.endswith("_count") else name
    for s in families[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    fail("no sample %s%s" % (name, labels))


want = {
    "kuiga_runs": "gauge",
    "kuiga_instances": "gauge",
    "kuiga_worker_up": "gauge",
    "kuiga_worker_capacity_instances": "gauge",
    "kuiga_worker_instances": "gauge",
    "kuiga_instance_create_seconds": "histogram",
    "kuiga_instance_start_seconds": "histogram",
    "kuiga_instance_stop_seconds": "histogram",
    # The parser names counters without their _total suffix.
    "kuiga_http_requests": "counter",
    "kuiga_http_request_duration_seconds": "histogram",
}
for name, kind in want.items():
    if name not in families:
        fail("missing family %s; have %s" % (name, sorted(families)))
    if families[name].type != kind:
        fail("%s is a %s, not a %s" % (name, families[name].type, kind))

if value("kuiga_instances", state="running") != running:
    fail("kuiga_instances{state=running} is %s, not %d" % (value("kuiga_instances", state="running"), running))
if value("kuiga_runs", state="running") < 1:
    fail("no running run")
if value("kuiga_instance_start_seconds_count") < running:
    fail("start latency observed %s times, fewer than %d" % (value("kuiga_instance_start_seconds_count"), running))
if value("kuiga_instance_create_seconds_count") < running:
    fail("create latency observed too few times")
if value("kuiga_worker_up") != 1:
    fail("the worker is not up")
# The run's devices are on the radio network, so the Plexer's counters are there, per run.
for name in ("kuiga_plexer_sent_frames", "kuiga_plexer_dropped_frames", "kuiga_plexer_ue_leases"):
    if name not in families:
        fail("missing Plexer family %s" % name)
if not any(s.labels.get("run") == "1" for s in families["kuiga_plexer_sent_frames"].samples):
    fail("no Plexer counters for run 1")
causes = {s.labels["cause"] for s in families["kuiga_plexer_dropped_frames"].samples}
if not {"loss", "no_ue", "no_lease"} <= causes:
    fail("dropped causes %s" % sorted(causes))
routes = {s.labels["route"] for s in families["kuiga_http_requests"].samples}
if "/api/v1/runs/{id}" not in routes:
    fail("no /api/v1/runs/{id} route among %s" % sorted(routes))
if any(r.startswith("/api/v1/runs/1") for r in routes):
    fail("a route carries a run id: %s" % sorted(routes))
print("metrics_check: %d families, all as expected" % len(families))
