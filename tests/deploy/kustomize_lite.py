"""A small, honest kustomize renderer for exactly the subset deploy/kubernetes uses.

Why it exists: the tests must render the overlays on a machine without a modern kustomize.
Neither PyPI nor Debian bookworm ships one (Debian's `kubernetes-client` is kubectl 1.20 with
kustomize v2.0.3, which predates the `patches` and `labels` fields). When a real kustomize v5 is
on PATH (`kustomize` or `kubectl kustomize`) the tests use it instead and also check that this
renderer produces the same objects, so the two cannot silently diverge.

Supported, and nothing else (anything else raises `Unsupported` instead of rendering wrongly):
  resources   files (multi-document YAML) and directories holding a kustomization.yaml
  namespace   sets metadata.namespace on every (namespaced) object
  labels      `pairs` added to metadata.labels only (includeSelectors/includeTemplates false)
  images      name -> newName / newTag / digest, in pod-template containers and initContainers
  patches     strategic-merge patches given by `path` or inline `patch`, without `target`;
              the patched object is found by kind + metadata.name; a `null` value removes a
              field; a patch holding only `$patch: delete` removes the whole object
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "IngressClass",
    "RuntimeClass",
}
# Strategic-merge keys for the lists this renderer will merge (Kubernetes' patchMergeKey).
# Lists not named here are replaced wholesale, as kustomize does for lists without a merge key.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "volumeMounts": "mountPath",
}
# Lists whose merge key depends on the parent object (container ports vs Service ports...):
# refuse rather than guess.
AMBIGUOUS_LISTS = {"ports"}


class Unsupported(Exception):
    """The kustomization uses a feature this renderer does not implement."""


def _kustomization_file(directory: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no kustomization file in {directory}")


def _load_documents(path: Path) -> list[Obj]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def _merge(base: Any, patch: Any, key: str | None = None) -> Any:
    """Strategic merge of `patch` into `base` for maps and the known keyed lists."""
    if isinstance(patch, dict):
        if any(str(k).startswith("$") for k in patch):
            raise Unsupported(f"strategic-merge directive in patch: {sorted(patch)}")
        if not isinstance(base, dict):
            return copy.deepcopy(patch)
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            elif k in out:
                out[k] = _merge(out[k], v, k)
            else:
                out[k] = copy.deepcopy(v)
        return out
    if isinstance(patch, list):
        if key in AMBIGUOUS_LISTS:
            raise Unsupported(f"patching the list {key!r} is not implemented")
        merge_key = MERGE_KEYS.get(key or "")
        if merge_key is None or not isinstance(base, list):
            return copy.deepcopy(patch)
        out_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            if not isinstance(item, dict) or merge_key not in item:
                raise Unsupported(f"item without {merge_key!r} in list {key!r}")
            for i, existing in enumerate(out_list):
                if existing.get(merge_key) == item[merge_key]:
                    out_list[i] = _merge(existing, item)
                    break
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def _apply_patch(resources: list[Obj], patch: Obj, origin: str) -> None:
    if not isinstance(patch, dict) or "kind" not in patch:
        raise Unsupported(f"{origin}: only strategic-merge patches (a single object) are supported")
    name = patch.get("metadata", {}).get("name")
    matches = [
        i for i, r in enumerate(resources) if r["kind"] == patch["kind"] and r["metadata"]["name"] == name
    ]
    if len(matches) != 1:
        raise ValueError(f"{origin}: patch for {patch['kind']}/{name} matches {len(matches)} objects")
    i = matches[0]
    if "$patch" in patch:
        if patch["$patch"] != "delete" or set(patch) - {"apiVersion", "kind", "metadata", "$patch"}:
            raise Unsupported(f"{origin}: only a bare `$patch: delete` of a whole object is supported")
        del resources[i]
        return
    merged = _merge(resources[i], {k: v for k, v in patch.items() if k != "apiVersion"})
    resources[i] = merged


def _set_image(container: Obj, images: list[Obj]) -> None:
    ref = container.get("image", "")
    name = ref.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    for image in images:
        if image.get("name") != name:
            continue
        unknown = set(image) - {"name", "newName", "newTag", "digest"}
        if unknown:
            raise Unsupported(f"images fields {sorted(unknown)}")
        new = image.get("newName", name)
        if "digest" in image:
            new += "@" + image["digest"]
        elif "newTag" in image:
            new += ":" + str(image["newTag"])
        elif ref != name:
            new += ref[len(name) :]
        container["image"] = new


def build(directory: Path) -> list[Obj]:
    """Render the kustomization in `directory` to a list of objects."""
    directory = directory.resolve()
    path = _kustomization_file(directory)
    with path.open(encoding="utf-8") as fh:
        k = yaml.safe_load(fh) or {}
    unknown = set(k) - SUPPORTED_FIELDS
    if unknown:
        raise Unsupported(f"{path}: fields {sorted(unknown)}")

    resources: list[Obj] = []
    for entry in k.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            resources.extend(build(target))
        else:
            resources.extend(copy.deepcopy(d) for d in _load_documents(target))

    for i, p in enumerate(k.get("patches", [])):
        if set(p) - {"path", "patch"} or len(p) != 1:
            raise Unsupported(f"{path}: patches[{i}] must have exactly one of path/patch")
        docs = (
            _load_documents(directory / p["path"])
            if "path" in p
            else [d for d in yaml.safe_load_all(p["patch"]) if d]
        )
        for doc in docs:
            _apply_patch(resources, doc, f"{path}: patches[{i}]")

    namespace = k.get("namespace")
    if namespace:
        for r in resources:
            if r["kind"] in CLUSTER_SCOPED:
                raise Unsupported(f"namespace transform of cluster-scoped {r['kind']}")
            r["metadata"]["namespace"] = namespace
            for s in r.get("subjects", []) if r["kind"].endswith("RoleBinding") else []:
                if s.get("name") == "default":
                    # kustomize rewrites the namespace of subjects named "default".
                    raise Unsupported("RoleBinding subject named 'default'")

    for entry in k.get("labels", []):
        if entry.get("includeSelectors") or entry.get("includeTemplates") or entry.get("fields"):
            raise Unsupported(f"{path}: labels with selectors/templates/fields")
        for r in resources:
            r["metadata"].setdefault("labels", {}).update({str(a): str(b) for a, b in entry["pairs"].items()})

    images = k.get("images", [])
    if images:
        for r in resources:
            pod = r.get("spec", {}).get("template", {}).get("spec", {})
            for c in pod.get("containers", []) + pod.get("initContainers", []):
                _set_image(c, images)

    seen: set[tuple[str, str, str, str]] = set()
    for r in resources:
        ident = (
            r["apiVersion"],
            r["kind"],
            r["metadata"].get("namespace", ""),
            r["metadata"]["name"],
        )
        if ident in seen:
            raise ValueError(f"{path}: duplicate object {ident}")
        seen.add(ident)
    return resources
