#!/usr/bin/python3
"""Turns the rendered master StatefulSet's and worker DaemonSet's pod templates into Pods that
`podman kube play` (4.3) runs, as a kubelet would run them, with only what a single machine
without Kubernetes needs changed, each change said here:

- a Pod of the template (podman plays neither a StatefulSet nor a DaemonSet), named PREFIX-master
  and PREFIX-worker;
- the master's volume claim template is a hostPath of the test's, owned by the master's user
  (podman's own volumes are root's, and podman has no fsGroup);
- the worker's hostPath is the test's directory instead of /var/lib/kuiga/worker;
- Secrets carry the test's prefix (podman's secrets are the machine's, not a namespace's);
- the master's admin-token Secret volume is a hostPath of the test's holding the same file:
  podman 4.3 crashes on a Secret volume, or mounts nothing when it is optional;
- the worker's NODE_NAME and POD_IP, which a kubelet fills from fieldRef, are values, and their
  $(VAR) references in the arguments are expanded here, as a kubelet does (podman 4.3 does not);
- the worker reaches the master at its address rather than its Service's name (no cluster DNS,
  and podman 4.3 writes no hostAliases without a network of its own), which the master's
  certificate is also for (one more --tls-name);
- probes are dropped: podman 4.3 runs an httpGet probe with curl inside the container, which
  the image does not have (the test probes /healthz itself);
- container ports are dropped: podman 4.3 makes port mappings of them, which it cannot do in a
  network namespace of the test's own (a pod's ports are open on its address all the same).

usage: kube_pods.py PREFIX MASTER_DATA ADMIN_TOKEN_DIR WORKER_STATE MASTER_IP WORKER_IP < rendered.yaml
writes PREFIX-master.yaml and PREFIX-worker.yaml in the current directory
"""
import sys

import yaml

prefix, master_data, admin_dir, worker_state, master_ip, worker_ip = sys.argv[1:7]
objs = [d for d in yaml.safe_load_all(sys.stdin) if d]


def template(kind):
    (obj,) = [o for o in objs if o["kind"] == kind]
    return obj, obj["spec"]["template"]


def rename_secrets(spec):
    for c in spec["containers"]:
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                ref["name"] = f"{prefix}-{ref['name']}"


def pod(name, tmpl, spec):
    for c in spec["containers"]:
        c.pop("readinessProbe", None)
        c.pop("livenessProbe", None)
        c.pop("ports", None)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{prefix}-{name}", "labels": tmpl["metadata"]["labels"],
                         "annotations": tmpl["metadata"].get("annotations", {})},
            "spec": spec}


master, tmpl = template("StatefulSet")
spec = tmpl["spec"]
(claim,) = master["spec"]["volumeClaimTemplates"]
spec.setdefault("volumes", []).append(
    {"name": claim["metadata"]["name"], "hostPath": {"path": master_data, "type": "Directory"}})
rename_secrets(spec)
for v in spec["volumes"]:
    if "secret" in v:
        del v["secret"]
        v["hostPath"] = {"path": admin_dir, "type": "Directory"}
spec["containers"][0]["args"].append(f"--tls-name={master_ip}")
with open(f"{prefix}-master.yaml", "w") as f:
    yaml.safe_dump(pod("master", tmpl, spec), f)

worker, tmpl = template("DaemonSet")
spec = tmpl["spec"]
(state,) = spec["volumes"]
state["hostPath"]["path"] = worker_state
rename_secrets(spec)
(c,) = spec["containers"]
for e in c["env"]:
    field = e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    if field:
        e.pop("valueFrom")
        e["value"] = {"spec.nodeName": f"{prefix}-node", "status.podIP": worker_ip}[field]
values = {e["name"]: e["value"] for e in c["env"] if "value" in e}
c["args"] = [f"--master=https://{master_ip}:8750" if a.startswith("--master=") else a
             for a in c["args"]]
for name, value in values.items():
    c["args"] = [a.replace(f"$({name})", value) for a in c["args"]]
with open(f"{prefix}-worker.yaml", "w") as f:
    yaml.safe_dump(pod("worker", tmpl, spec), f)
