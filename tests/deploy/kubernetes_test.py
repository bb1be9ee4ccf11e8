#!/usr/bin/python3
"""The Kubernetes manifests as an operator gets them: every kustomization under
deploy/kubernetes renders with `kubectl kustomize` (Debian's kubectl 1.20, or the machine's own),
and the rendered objects are what docs/deploy.md says: their kinds and namespace, the image, the
master's probes and its lack of privilege, the privileges a worker and a plexer need and no more
(no host PID, IPC or network namespace, one hostPath), no CPU limit on workers, and secrets
referenced, never inlined.

usage: kubernetes_test.py REPO VERSION [--render-to DIR]
"""
import os
import subprocess
import sys
import unittest

import yaml

REPO = sys.argv[1] if len(sys.argv) > 1 else "."
VERSION = sys.argv[2] if len(sys.argv) > 2 else "0.0.0"
ROOT = os.path.join(REPO, "deploy", "kubernetes")
OVERLAYS = ["base", "overlays/s3", "overlays/monitoring"]
IMAGE = "localhost/kuiga:" + VERSION


def render(path):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(ROOT, path)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize {path}: {out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(objs, kind, name=None):
    found = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if not found:
        raise AssertionError(f"no {kind} {name or ''}")
    return found[0]


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def container(obj):
    spec = pod_spec(obj)
    assert len(spec["containers"]) == 1, spec["containers"]
    return spec["containers"][0]


def env(c):
    return {e["name"]: e for e in c.get("env", [])}


class Rendered(unittest.TestCase):
    renders = {}

    @classmethod
    def setUpClass(cls):
        for o in OVERLAYS:
            cls.renders[o] = render(o)

    def test_every_overlay_renders_into_the_namespace_with_our_image(self):
        for o, objs in self.renders.items():
            for obj in objs:
                if obj["kind"] != "Namespace":
                    self.assertEqual(obj["metadata"].get("namespace"), "kuiga", (o, obj["metadata"]))
                if obj["kind"] in ("StatefulSet", "DaemonSet", "Deployment"):
                    for c in pod_spec(obj)["containers"]:
                        self.assertEqual(c["image"], IMAGE, (o, obj["metadata"]["name"]))

    def test_the_base_has_a_master_workers_and_a_plexer(self):
        objs = self.renders["base"]
        kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
        self.assertEqual(kinds, [("DaemonSet", "kuiga-worker"), ("Deployment", "kuiga-plexer"),
                                 ("Namespace", "kuiga"), ("Service", "kuiga-master"),
                                 ("StatefulSet", "kuiga-master")])
        master = by_kind(objs, "StatefulSet")
        self.assertEqual(master["spec"]["replicas"], 1)
        self.assertEqual(master["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data")
        service = by_kind(objs, "Service")
        self.assertEqual(sorted(p["port"] for p in service["spec"]["ports"]), [8750, 8751])
        labels = master["spec"]["template"]["metadata"]["labels"]
        for k, v in service["spec"]["selector"].items():
            self.assertEqual(labels.get(k), v)

    def test_the_master_is_probed_on_healthz_and_runs_without_privilege(self):
        master = by_kind(self.renders["base"], "StatefulSet")
        c = container(master)
        for probe in ("readinessProbe", "livenessProbe"):
            get = c[probe]["httpGet"]
            self.assertEqual((get["path"], get["scheme"], get["port"]), ("/healthz", "HTTPS", "api"))
        pod = pod_spec(master)
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertEqual(pod["securityContext"]["runAsUser"], 10001)
        self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
        self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
        self.assertNotIn("privileged", c["securityContext"])
        for host in ("hostPID", "hostIPC", "hostNetwork"):
            self.assertNotIn(host, pod)
        # Its certificate is for the names workers use.
        self.assertIn("--tls=auto", c["args"])
        self.assertIn("--tls-name=kuiga-master.kuiga.svc", c["args"])
        annotations = master["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")

    def test_workers_and_the_plexer_get_what_they_need_and_no_more(self):
        objs = self.renders["base"]
        for obj, state in ((by_kind(objs, "DaemonSet"), "hostPath"),
                           (by_kind(objs, "Deployment"), "emptyDir")):
            pod, c = pod_spec(obj), container(obj)
            self.assertTrue(c["securityContext"]["privileged"])
            for host in ("hostPID", "hostIPC", "hostNetwork"):
                self.assertNotIn(host, pod, obj["metadata"]["name"])
            self.assertEqual([list(set(v) - {"name"}) for v in pod["volumes"]], [[state]])
            self.assertIn("--underlay-address=$(POD_IP)", c["args"])
            self.assertEqual(env(c)["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP")
            self.assertEqual(env(c)["KUIGA_JOIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"],
                             "kuiga-join")
            self.assertIn("cpu", c["resources"]["requests"])
        worker = by_kind(objs, "DaemonSet")
        pod, c = pod_spec(worker), container(worker)
        self.assertEqual(pod["volumes"][0]["hostPath"]["path"], "/var/lib/kuiga/worker")
        self.assertIn("--name=$(NODE_NAME)", c["args"])
        self.assertEqual(env(c)["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName")
        self.assertIn("kuiga.io/worker", pod["nodeSelector"])
        self.assertTrue(pod["tolerations"])
        # No CPU limit on workers: throttling is jitter for every device of the node.
        self.assertNotIn("cpu", c["resources"].get("limits", {}))

    def test_secrets_are_referenced_and_never_inlined(self):
        for o, objs in self.renders.items():
            self.assertFalse([x for x in objs if x["kind"] == "Secret"], o)
            for obj in objs:
                if obj["kind"] not in ("StatefulSet", "DaemonSet", "Deployment"):
                    continue
                for name, e in env(container(obj)).items():
                    if any(s in name for s in ("TOKEN", "SECRET", "KEY")) and not name.endswith("_FILE"):
                        self.assertNotIn("value", e, (o, name))

    def test_the_s3_overlay_gives_workers_read_only_keys_of_their_own(self):
        objs = self.renders["overlays/s3"]
        refs = {}
        for kind in ("StatefulSet", "DaemonSet"):
            sources = container(by_kind(objs, kind))["envFrom"]
            refs[kind] = [s["secretRef"]["name"] for s in sources if "secretRef" in s]
            self.assertIn({"configMapRef": {"name": "kuiga-s3"}}, sources)
        self.assertEqual(refs, {"StatefulSet": ["kuiga-s3-master"], "DaemonSet": ["kuiga-s3-reader"]})
        config = by_kind(objs, "ConfigMap", "kuiga-s3")["data"]
        self.assertTrue({"KUIGA_S3_ENDPOINT", "KUIGA_S3_BUCKET"} <= set(config))

    def test_the_monitoring_overlay_scrapes_with_the_metrics_token(self):
        sm = by_kind(self.renders["overlays/monitoring"], "ServiceMonitor")
        ep = sm["spec"]["endpoints"][0]
        self.assertEqual((ep["port"], ep["path"], ep["scheme"]), ("api", "/metrics", "https"))
        self.assertEqual(ep["bearerTokenSecret"]["name"], "kuiga-metrics")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
