#!/usr/bin/env python3
"""Rendering test of helm/qwen3-tts with no network and no helm binary.

Builds tests/helm/render (Go text/template + sprig + helm's functions, values schema validation)
with Debian's Go toolchain in GOPATH mode, renders the chart for several value combinations,
checks every rendered object against the Kubernetes API schemas (check_manifests.py) and asserts
on the content. Invalid values must be refused with a message naming the value.

Usage: chart_test.py [--build-dir DIR]   (default: $TMPDIR/qwen3-tts-helm-test)
Needs: golang-go, golang-github-masterminds-sprig-dev, golang-k8s-sigs-yaml-dev,
golang-github-xeipuuv-gojsonschema-dev, python3-kubernetes, python3-yaml (scripts/apt-packages.txt).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHART = os.path.join(ROOT, "helm", "qwen3-tts")
sys.path.insert(0, HERE)
import check_manifests  # noqa: E402

STAGES = ("talker", "vocoder", "gateway")
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print(f"  FAIL: {msg}")
    return cond


def build_renderer(build_dir):
    os.makedirs(build_dir, exist_ok=True)
    binary = os.path.join(build_dir, "render")
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="", GOPROXY="off",
               GOCACHE=os.path.join(build_dir, "gocache"), CGO_ENABLED="0")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=os.path.join(HERE, "render"), env=env, check=True)
    return binary


class Renderer:
    def __init__(self, binary, tmp):
        self.binary, self.tmp, self.n = binary, tmp, 0

    def run(self, values=None, sets=(), name="tts", namespace="speech", notes=False):
        args = [self.binary, "--name", name, "--namespace", namespace]
        if values is not None:
            self.n += 1
            path = os.path.join(self.tmp, f"values-{self.n}.yaml")
            with open(path, "w") as f:
                yaml.safe_dump(values, f)
            args += ["-f", path]
        for s in sets:
            args += ["--set", s]
        if notes:
            args.append("--notes")
        args.append(CHART)
        return subprocess.run(args, capture_output=True, text=True)

    def render(self, values=None, **kw):
        p = self.run(values, **kw)
        if p.returncode != 0:
            raise AssertionError(f"render failed: {p.stderr}")
        docs = [d for d in yaml.safe_load_all(p.stdout) if d is not None]
        errors = check_manifests.check_documents(docs)
        check(not errors, "manifests match the Kubernetes API schemas:\n    " + "\n    ".join(errors))
        notes = self.run(values, notes=True, **kw)
        check(notes.returncode == 0 and "NOTES:" in notes.stdout, f"NOTES.txt renders: {notes.stderr}")
        return Objects(docs)


class Objects:
    def __init__(self, docs):
        self.docs = docs

    def all(self, kind):
        return [d for d in self.docs if d["kind"] == kind]

    def get(self, kind, name):
        for d in self.docs:
            if d["kind"] == kind and d["metadata"]["name"] == name:
                return d
        return None

    def config(self, release, stage):
        cm = self.get("ConfigMap", f"{release}-{stage}")
        return yaml.safe_load(cm["data"][f"{stage}.yaml"])

    def container(self, release, stage):
        dep = self.get("Deployment", f"{release}-{stage}")
        return dep["spec"]["template"]["spec"]["containers"][0]

    def pod(self, release, stage):
        dep = self.get("Deployment", f"{release}-{stage}")
        return dep and dep["spec"]["template"]["spec"]


def contract_keys(stage):
    """Keys the binary accepts: those of the example config deploy/config/<stage>.yaml."""
    with open(os.path.join(ROOT, "deploy", "config", f"{stage}.yaml")) as f:
        return set(yaml.safe_load(f))


def volume(pod, name):
    return next((v for v in pod.get("volumes", []) if v["name"] == name), None)


def mount(container, name):
    return next((m for m in container.get("volumeMounts", []) if m["name"] == name), None)


def test_defaults(r):
    print("defaults")
    o = r.render()
    kinds = sorted(d["kind"] for d in o.docs)
    for kind, n in (("Deployment", 3), ("Service", 3), ("ConfigMap", 3), ("HorizontalPodAutoscaler", 2),
                    ("PodDisruptionBudget", 3), ("NetworkPolicy", 3), ("PersistentVolumeClaim", 1),
                    ("ServiceAccount", 1), ("ServiceMonitor", 0)):
        check(kinds.count(kind) == n, f"{n} {kind} objects by default (got {kinds.count(kind)})")
    ports = {"talker": 50051, "vocoder": 50052, "gateway": 50050}
    metrics = {"talker": 9101, "vocoder": 9102, "gateway": 9100}
    for stage in STAGES:
        cfg = o.config("tts", stage)
        unknown = set(cfg) - contract_keys(stage)
        check(not unknown, f"{stage} config only has keys the binary knows (unknown: {unknown})")
        check(cfg["listen"] == f"0.0.0.0:{ports[stage]}", f"{stage} listen on {ports[stage]}")
        check(cfg["metrics_listen"] == f"0.0.0.0:{metrics[stage]}", f"{stage} metrics_listen")
        check(cfg["model_dir"] == "/models/Qwen3-TTS-12Hz-0.6B-CustomVoice", f"{stage} model_dir")
        c = o.container("tts", stage)
        pod = o.pod("tts", stage)
        check(c["command"] == [f"/usr/local/bin/qwen3-tts-{stage}", "--config", f"/etc/qwen3-tts/{stage}.yaml"],
              f"{stage} runs its binary with --config")
        m = mount(c, "config")
        check(m and m["mountPath"] == f"/etc/qwen3-tts/{stage}.yaml" and m["subPath"] == f"{stage}.yaml",
              f"{stage} config mounted at /etc/qwen3-tts/{stage}.yaml")
        check(c["readinessProbe"].get("grpc") == {"port": ports[stage]},
              f"{stage} readiness probe: grpc health, service \"\"")
        check(c["livenessProbe"].get("grpc") == {"port": ports[stage], "service": "liveness"},
              f"{stage} liveness probe: grpc health, service liveness")
        check(c["startupProbe"].get("grpc") == {"port": ports[stage]}, f"{stage} startup probe on readiness")
        check(pod["terminationGracePeriodSeconds"] > cfg["drain_seconds"] + 5,
              f"{stage} grace period above drain_seconds + preStop")
        check(c["securityContext"]["readOnlyRootFilesystem"] is True and pod["securityContext"]["runAsNonRoot"] is True
              and pod["securityContext"]["runAsUser"] == 10001, f"{stage} non-root, read-only root filesystem")
        init = pod.get("initContainers") or []
        check(len(init) == 1 and {"name": "HF_REPO", "value": "Qwen/Qwen3-TTS-12Hz-0.6B-CustomVoice"} in init[0]["env"],
              f"{stage} downloads the Hugging Face checkpoint in an init container")
        check("emptyDir" in volume(pod, "model"), f"{stage} model volume is an emptyDir")
        check(mount(c, "model")["readOnly"] is True, f"{stage} mounts the model read-only")
        check("checksum/config" in o.get("Deployment", f"tts-{stage}")["spec"]["template"]["metadata"]["annotations"],
              f"{stage} pods roll on config changes")
    for stage in ("talker", "vocoder"):
        svc = o.get("Service", f"tts-{stage}")
        check(svc["spec"].get("clusterIP") == "None", f"{stage} Service is headless")
        check("replicas" not in o.get("Deployment", f"tts-{stage}")["spec"], f"{stage} replicas left to the HPA")
        hpa = o.get("HorizontalPodAutoscaler", f"tts-{stage}")
        check(hpa and hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["scaleTargetRef"]["name"] == f"tts-{stage}",
              f"{stage} HPA targets its Deployment")
        np = o.get("NetworkPolicy", f"tts-{stage}")
        frm = np["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
        check(frm.get("app.kubernetes.io/component") == "gateway" and frm.get("app.kubernetes.io/instance") == "tts",
              f"{stage} NetworkPolicy admits gRPC only from the gateway pods")
        check(np["spec"]["ingress"][0]["ports"] == [{"port": "grpc", "protocol": "TCP"}], f"{stage} policy: grpc port only")
    gw = o.config("tts", "gateway")
    check(gw["talker"] == "dns:///tts-talker.speech.svc.cluster.local:50051", f"gateway talker target: {gw['talker']}")
    check(gw["vocoder"] == "dns:///tts-vocoder.speech.svc.cluster.local:50052", f"gateway vocoder target: {gw['vocoder']}")
    check(gw["http_listen"] == "0.0.0.0:8080" and gw["voice_dir"] == "/var/lib/qwen3-tts/voices", "gateway http + voices")
    check(gw["max_upload_bytes"] == 33554432, "large integers survive the float64 values round trip")
    svc = o.get("Service", "tts-gateway")
    check(svc["spec"].get("clusterIP") != "None" and svc["spec"]["type"] == "ClusterIP", "gateway Service is not headless")
    check({p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"grpc": 50050, "http": 8080, "metrics": 9100},
          "gateway Service exposes grpc 50050, http 8080, metrics 9100")
    check(o.get("Deployment", "tts-gateway")["spec"]["replicas"] == 1, "gateway replicas")
    check(o.get("NetworkPolicy", "tts-gateway")["spec"]["ingress"][0].get("from") is None, "gateway ingress is open")
    pvc = o.get("PersistentVolumeClaim", "tts-gateway-voices")
    check(pvc and volume(o.pod("tts", "gateway"), "voices")["persistentVolumeClaim"]["claimName"] == "tts-gateway-voices",
          "gateway voice store on its PVC")


def test_model_pvc(r):
    print("model from an existing PVC; Hugging Face token from a Secret")
    o = r.render({"model": {"existingClaim": "qwen3-models", "name": "Qwen3-TTS-12Hz-1.7B-Base"},
                  "gateway": {"voiceStore": {"persistence": {"existingClaim": "voices", "storageClass": "fast"}}}})
    for stage in STAGES:
        pod = o.pod("tts", stage)
        check(not pod.get("initContainers"), f"{stage}: no download with an existing claim")
        check(volume(pod, "model").get("persistentVolumeClaim") == {"claimName": "qwen3-models", "readOnly": True},
              f"{stage}: model PVC mounted read-only")
        check(o.config("tts", stage)["model_dir"] == "/models/Qwen3-TTS-12Hz-1.7B-Base", f"{stage}: model_dir follows model.name")
    check(not o.all("PersistentVolumeClaim"), "no voice PVC created with voiceStore existingClaim")
    check(volume(o.pod("tts", "gateway"), "voices")["persistentVolumeClaim"]["claimName"] == "voices", "existing voice claim used")
    o = r.render({"model": {"huggingface": {"repo": "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice", "revision": "main",
                                            "tokenSecret": {"name": "hf-token", "key": "token"}}}})
    env = o.pod("tts", "talker")["initContainers"][0]["env"]
    check({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}} in env,
          "HF_TOKEN comes from the Secret")
    check({"name": "HF_REVISION", "value": "main"} in env and
          {"name": "HF_REPO", "value": "Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice"} in env, "repo and revision passed")


def test_tls_keys_monitor(r):
    print("TLS + API keys + ServiceMonitor + NetworkPolicy, autoscaling off, other release/namespace")
    values = {
        "tls": {"gateway": {"secretName": "gw-cert"}, "internal": {"secretName": "mesh-cert"}},
        "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}}},
        # null deletes a default key (helm's merge): every namespace, every pod.
        "networkPolicy": {"enabled": True, "metrics": {"namespaceSelector": {"matchLabels": None},
                                                       "podSelector": {"matchLabels": None}}},
        "talker": {"autoscaling": {"enabled": False}, "replicaCount": 3, "config": {"dtype": "int4-g128"},
                   "podAnnotations": {"team": "speech"}, "nodeSelector": {"pool": "cpu"},
                   "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "tts", "effect": "NoSchedule"}]},
        "vocoder": {"autoscaling": {"enabled": False}, "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"},
                    "config": {"dtype": "int4-g128", "conv_dtype": "int8"}},
        "gateway": {"apiKeys": {"existingSecret": "tts-keys", "key": "keys.txt"},
                    "voiceStore": {"persistence": {"enabled": False}}, "http": {"enabled": False},
                    "service": {"type": "LoadBalancer"}},
    }
    o = r.render(values, name="prod", namespace="tts-prod")
    check(not o.all("HorizontalPodAutoscaler"), "no HPA when autoscaling is off")
    check(o.get("Deployment", "prod-talker")["spec"]["replicas"] == 3, "talker replicas from replicaCount")
    check(o.get("PodDisruptionBudget", "prod-vocoder")["spec"]["maxUnavailable"] == "50%", "PDB percentage kept a string")
    for stage in ("talker", "vocoder"):
        cfg = o.config("prod", stage)
        check(cfg.get("tls_cert_file") == "/etc/qwen3-tts/tls/tls.crt" and cfg.get("tls_key_file") == "/etc/qwen3-tts/tls/tls.key"
              and cfg.get("tls_client_ca_file") == "/etc/qwen3-tts/tls/ca.crt", f"{stage} requires mutual TLS")
        c, pod = o.container("prod", stage), o.pod("prod", stage)
        check(mount(c, "internal-tls")["mountPath"] == "/etc/qwen3-tts/tls" and
              volume(pod, "internal-tls")["secret"]["secretName"] == "mesh-cert", f"{stage} mounts the internal TLS secret")
        check("grpc" not in c["readinessProbe"] and c["readinessProbe"]["tcpSocket"]["port"] == "grpc" and
              c["livenessProbe"]["httpGet"]["path"] == "/metrics", f"{stage} probes fall back from gRPC (kubelet has no TLS)")
    check(o.config("prod", "talker")["dtype"] == "int4-g128", "talker dtype from values")
    check(o.config("prod", "vocoder")["dtype"] == "int4-g128" and o.config("prod", "vocoder")["conv_dtype"] == "int8",
          "vocoder dtype and conv_dtype from values")
    gw = o.config("prod", "gateway")
    check(gw["stage_ca_file"] == "/etc/qwen3-tts/tls/ca.crt" and gw["stage_cert_file"] == "/etc/qwen3-tts/tls/tls.crt"
          and gw["stage_key_file"] == "/etc/qwen3-tts/tls/tls.key", "gateway is the mTLS client of the stages")
    check(gw["tls_cert_file"] == "/etc/qwen3-tts/gateway-tls/tls.crt" and "tls_client_ca_file" not in gw,
          "gateway serves its public certificate without client certificates")
    check(gw["talker"] == "dns:///prod-talker.tts-prod.svc.cluster.local:50051", "targets follow release and namespace")
    check(gw["api_keys_file"] == "/etc/qwen3-tts/api-keys/keys", "gateway api_keys_file set")
    check(gw["http_listen"] == "", "HTTP endpoint disabled")
    gpod, gc = o.pod("prod", "gateway"), o.container("prod", "gateway")
    check(volume(gpod, "api-keys")["secret"] == {"secretName": "tts-keys", "defaultMode": 0o440,
                                                 "items": [{"key": "keys.txt", "path": "keys"}]}, "API keys Secret mounted as a file")
    check(volume(gpod, "gateway-tls")["secret"]["secretName"] == "gw-cert", "gateway certificate mounted")
    check("emptyDir" in volume(gpod, "voices") and not o.all("PersistentVolumeClaim"), "voice store on an emptyDir")
    check([p["name"] for p in o.get("Service", "prod-gateway")["spec"]["ports"]] == ["grpc", "metrics"] and
          o.get("Service", "prod-gateway")["spec"]["type"] == "LoadBalancer", "gateway Service without http")
    sm = o.all("ServiceMonitor")
    check(len(sm) == 1 and sm[0]["metadata"]["labels"].get("release") == "kube-prometheus-stack" and
          sm[0]["spec"]["endpoints"][0]["port"] == "metrics", "ServiceMonitor scrapes the metrics ports")
    check(len(o.all("NetworkPolicy")) == 3, "NetworkPolicies rendered")
    scrape = o.get("NetworkPolicy", "prod-talker")["spec"]["ingress"][1]["from"][0]
    check(scrape == {"namespaceSelector": {}, "podSelector": {}}, "scrapers selector from values")
    tpod = o.pod("prod", "talker")
    check(tpod["nodeSelector"] == {"pool": "cpu"} and tpod["tolerations"][0]["key"] == "dedicated", "scheduling values")
    check(o.get("Deployment", "prod-talker")["spec"]["template"]["metadata"]["annotations"]["team"] == "speech", "podAnnotations")
    o = r.render({"networkPolicy": {"enabled": False}, "serviceAccount": {"create": False}, "fullnameOverride": "voice"})
    check(not o.all("NetworkPolicy") and not o.all("ServiceAccount"), "NetworkPolicy and ServiceAccount can be disabled")
    check(o.pod("tts", "gateway") is None and o.pod("voice", "gateway")["serviceAccountName"] == "default",
          "fullnameOverride names the objects")


def test_invalid(r):
    print("invalid values are refused")
    cases = [
        ({"talker": {"config": {"dtype": "float16"}}}, ["talker.config.dtype"]),
        ({"vocoder": {"config": {"conv_dtype": "int4"}}}, ["vocoder.config.conv_dtype"]),
        ({"vocoder": {"config": {"dtype": "bfloat16"}}}, ["vocoder.config.dtype"]),
        ({"talker": {"config": {"max_batch": 4}}}, ["talker.config", "max_batch"]),
        ({"gateway": {"replicaCount": "two"}}, ["gateway.replicaCount", "Invalid type"]),
        ({"vocoder": {"ports": {"grpc": 70000}}}, ["vocoder.ports.grpc"]),
        ({"modle": {}}, ["modle"]),
        ({"model": {"huggingface": {"repo": "not a repo"}}}, ["model.huggingface.repo"]),
        ({"gateway": {"config": {"max_upload_bytes": 10}}}, ["gateway.config.max_upload_bytes"]),
        ({"talker": {"terminationGracePeriodSeconds": 20}}, ["talker.terminationGracePeriodSeconds"]),
        ({"vocoder": {"resources": {"requests": {"cpu": None}}}}, ["vocoder.autoscaling needs vocoder.resources.requests.cpu"]),
    ]
    for values, needles in cases:
        p = r.run(values)
        ok = p.returncode != 0 and all(n in p.stderr for n in needles)
        check(ok, f"values {values} refused naming {needles}: rc={p.returncode} stderr={p.stderr.strip()[:300]}")
    p = r.run(sets=["talker.config.dtype=float16"])
    check(p.returncode != 0 and "values don't meet the specifications of the schema" in p.stderr,
          "--set values are schema-checked too")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(tempfile.gettempdir(), "qwen3-tts-helm-test"))
    args = ap.parse_args()
    binary = build_renderer(args.build_dir)
    with tempfile.TemporaryDirectory() as tmp:
        r = Renderer(binary, tmp)
        for t in (test_defaults, test_model_pvc, test_tls_keys_monitor, test_invalid):
            try:
                t(r)
            except Exception as e:  # noqa: BLE001 - report and go on with the other cases
                failures.append(f"{t.__name__}: {type(e).__name__}: {e}")
                print(f"  FAIL: {t.__name__}: {type(e).__name__}: {e}")
    if failures:
        print(f"chart_test: {len(failures)} failure(s)")
        return 1
    print("chart_test: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
