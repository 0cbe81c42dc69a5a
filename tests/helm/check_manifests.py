#!/usr/bin/env python3
"""Checks rendered Kubernetes manifests against the API schemas of Debian's python3-kubernetes.

Every object is walked recursively through the generated model classes (openapi_types and
attribute_map): an unknown field, a value of the wrong type or a missing required field fails.
Required fields are found by constructing the model class with client-side validation on, which
raises for a required field that is None.

python3-kubernetes in Debian 12 is client 22.6 (Kubernetes 1.22). Two newer API parts the chart
uses are added here by hand, from the Kubernetes API reference:
  * Probe.grpc (GRPCAction: port int32 required, service string), GA in 1.27 (beta 1.24);
  * autoscaling/v2 HorizontalPodAutoscaler (GA in 1.23), whose schema is that of v2beta2.
ServiceMonitor is a CRD (monitoring.coreos.com/v1) and is checked against a minimal hand-written
structure.

Usage: check_manifests.py FILE...   (multi-document YAML; '-' reads stdin)
As a module: check_documents(list_of_dicts) -> list of error strings.
"""
import re
import sys

import yaml

try:
    import kubernetes.client as k8s
except ImportError:  # pragma: no cover - the test script reports this
    sys.stderr.write("check_manifests: python3-kubernetes is required (apt-get install python3-kubernetes)\n")
    raise


class _Synthetic:
    """A model description not present in the installed client."""

    def __init__(self, name, types, attribute_map, required):
        self.__name__ = name
        self.openapi_types = types
        self.attribute_map = attribute_map
        self.required = required


GRPC_ACTION = _Synthetic("V1GRPCAction", {"port": "int", "service": "str"},
                         {"port": "port", "service": "service"}, ["port"])

# Field types added to existing models: {model name: {python attr: (json name, type)}}.
EXTRA_FIELDS = {
    "V1Probe": {"grpc": ("grpc", GRPC_ACTION)},
}

# Map-valued fields whose values are resource.Quantity (int, float or string in YAML).
QUANTITY_MAPS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests")}

KINDS = {
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Service"): "V1Service",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("v1", "Pod"): "V1Pod",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2beta2HorizontalPodAutoscaler",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
}

# Hand-written minimal structure of the monitoring.coreos.com/v1 ServiceMonitor CRD: a dict of
# field -> (type, required); type is a python type, a nested dict spec or [spec] for lists.
_LABEL_SELECTOR = {"matchLabels": ({str: str}, False), "matchExpressions": ([{
    "key": (str, True), "operator": (str, True), "values": ([str], False)}], False)}
_ENDPOINT = {"port": (str, False), "targetPort": ((int, str), False), "path": (str, False),
             "scheme": (str, False), "interval": (str, False), "scrapeTimeout": (str, False),
             "honorLabels": (bool, False), "relabelings": ([dict], False),
             "metricRelabelings": ([dict], False), "tlsConfig": (dict, False),
             "bearerTokenSecret": (dict, False), "params": (dict, False)}
SERVICE_MONITOR = {
    "apiVersion": (str, True), "kind": (str, True),
    "metadata": (dict, True),
    "spec": ({
        "selector": (_LABEL_SELECTOR, True),
        "namespaceSelector": ({"any": (bool, False), "matchNames": ([str], False)}, False),
        "endpoints": ([_ENDPOINT], True),
        "jobLabel": (str, False), "targetLabels": ([str], False), "podTargetLabels": ([str], False),
        "sampleLimit": (int, False),
    }, True),
}

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _model(name):
    if isinstance(name, _Synthetic):
        return name
    return getattr(k8s, name)


def _fields(cls):
    """json name -> (python attr, type) for a model class, extras included."""
    out = {json_name: (attr, cls.openapi_types[attr]) for attr, json_name in cls.attribute_map.items()}
    for attr, (json_name, typ) in EXTRA_FIELDS.get(cls.__name__, {}).items():
        out[json_name] = (attr, typ)
    return out


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_value(value, typ, path, errors, owner=None):
    """Checks one value against an openapi type string (or a model / synthetic)."""
    if value is None:
        return  # explicit null: the API server treats it as unset
    if isinstance(typ, _Synthetic):
        _check_model(value, typ, path, errors)
        return
    if typ.startswith("list["):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        inner = typ[5:-1]
        for i, item in enumerate(value):
            _check_value(item, inner, f"{path}[{i}]", errors)
        return
    if typ.startswith("dict("):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        inner = typ[5:-1].split(",", 1)[1].strip()
        for k, item in value.items():
            if not isinstance(k, str):
                errors.append(f"{path}: map key {k!r} is not a string")
            if owner in QUANTITY_MAPS:
                if not (isinstance(item, (str, float)) or _is_int(item)):
                    errors.append(f"{path}.{k}: expected a quantity, got {item!r}")
                continue
            _check_value(item, inner, f"{path}.{k}", errors)
        return
    if typ == "str":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string, got {type(value).__name__} {value!r}")
    elif typ == "int":
        if not _is_int(value):
            errors.append(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
    elif typ == "float":
        if not (isinstance(value, float) or _is_int(value)):
            errors.append(f"{path}: expected a number, got {value!r}")
    elif typ == "bool":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected a boolean, got {type(value).__name__} {value!r}")
    elif typ == "datetime" or typ == "date":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a timestamp string, got {value!r}")
    elif typ == "object":
        # int-or-string (ports, maxUnavailable, ...) or free-form: scalars, maps and lists.
        pass
    else:
        _check_model(value, _model(typ), path, errors)


def _check_model(value, cls, path, errors):
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({cls.__name__}), got {type(value).__name__} {value!r}")
        return
    fields = _fields(cls)
    kwargs = {}
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{path}: unknown field {key!r} in {cls.__name__}")
            continue
        attr, typ = fields[key]
        _check_value(item, typ, f"{path}.{key}", errors, owner=(cls.__name__, attr))
        kwargs[attr] = item
    # Required fields: the generated constructor raises ValueError for a required field that is
    # None when client-side validation is on.
    if isinstance(cls, _Synthetic):
        for req in cls.required:
            if value.get(req) is None:
                errors.append(f"{path}: missing required field {req!r} in {cls.__name__}")
        return
    config = k8s.Configuration()
    config.client_side_validation = True
    extras = EXTRA_FIELDS.get(cls.__name__, {})
    try:
        cls(**{k: v for k, v in kwargs.items() if k not in extras}, local_vars_configuration=config)
    except ValueError as e:
        errors.append(f"{path}: {cls.__name__}: {e}")
    except TypeError as e:  # pragma: no cover - would mean the field map is wrong
        errors.append(f"{path}: {cls.__name__}: {e}")


def _check_structure(value, spec, path, errors):
    if isinstance(spec, dict) and spec and all(isinstance(v, tuple) for v in spec.values()):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {value!r}")
            return
        for key, item in value.items():
            if key not in spec:
                errors.append(f"{path}: unknown field {key!r}")
                continue
            _check_structure(item, spec[key][0], f"{path}.{key}", errors)
        for key, (_, req) in spec.items():
            if req and value.get(key) is None:
                errors.append(f"{path}: missing required field {key!r}")
    elif isinstance(spec, dict):  # {str: str}: a string map
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            errors.append(f"{path}: expected a map of strings, got {value!r}")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {value!r}")
            return
        for i, item in enumerate(value):
            _check_structure(item, spec[0], f"{path}[{i}]", errors)
    elif spec is int:
        if not _is_int(value):
            errors.append(f"{path}: expected an integer, got {value!r}")
    elif not isinstance(value, spec):
        errors.append(f"{path}: expected {spec}, got {value!r}")


def _check_metadata(doc, path, errors):
    meta = doc.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        errors.append(f"{path}: metadata.name is required")
        return
    limit, pattern = (63, DNS1123_LABEL) if doc.get("kind") == "Service" else (253, DNS1123_SUBDOMAIN)
    if len(name) > limit or not pattern.match(name):
        errors.append(f"{path}: metadata.name {name!r} is not a valid DNS-1123 name (max {limit})")
    for key in ("labels", "annotations"):
        for k, v in (meta.get(key) or {}).items():
            if not isinstance(v, str):
                errors.append(f"{path}: metadata.{key}.{k} must be a string, got {v!r}")
            elif key == "labels" and (len(v) > 63 or not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", v)):
                errors.append(f"{path}: label value {k}={v!r} is invalid")


def check_documents(docs):
    """Returns a list of error strings for the given parsed manifests."""
    errors = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        kind = doc.get("kind") if isinstance(doc, dict) else None
        path = f"doc[{i}] {kind}/{(doc.get('metadata') or {}).get('name') if isinstance(doc, dict) else '?'}"
        if not isinstance(doc, dict):
            errors.append(f"{path}: not an object")
            continue
        key = (doc.get("apiVersion"), kind)
        if key == ("monitoring.coreos.com/v1", "ServiceMonitor"):
            _check_structure(doc, SERVICE_MONITOR, path, errors)
        elif key in KINDS:
            _check_model(doc, _model(KINDS[key]), path, errors)
        else:
            errors.append(f"{path}: no schema for apiVersion {key[0]!r} kind {key[1]!r}")
            continue
        _check_metadata(doc, path, errors)
        if "status" in doc:
            errors.append(f"{path}: rendered objects must not carry a status")
    return errors


def main(argv):
    docs = []
    for name in argv or ["-"]:
        text = sys.stdin.read() if name == "-" else open(name, encoding="utf-8").read()
        docs.extend(d for d in yaml.safe_load_all(text) if d is not None)
    errors = check_documents(docs)
    for e in errors:
        print(e, file=sys.stderr)
    print(f"check_manifests: {len(docs)} objects, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
