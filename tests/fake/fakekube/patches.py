"""PATCH bodies as the API server applies them: JSON patch (RFC 6902, evanphx/json-patch),
and the strategic merge patch of apimachinery's strategicpatch for the fields of a
StatefulSet (lists merged by their patchMergeKey, the $patch directives). The merge patch
(RFC 7386) is resources.merge_patch."""
import copy


class PatchError(Exception):
    """status 400: the patch cannot be decoded; 422: it does not apply to the object."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# --- JSON patch (RFC 6902) ------------------------------------------------------------------

def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(422, "invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc, parts, op):
    """The parent of the pointer's last token."""
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise PatchError(422, "%s operation does not apply: doc is missing path" % op)
    return cur


def _index(parent, key, op, allow_end=False):
    if key == "-" and allow_end:
        return len(parent)
    if not key.isdigit() or (key != "0" and key.startswith("0")):
        raise PatchError(422, "%s operation: invalid array index %r" % (op, key))
    i = int(key)
    if i > len(parent) or (i == len(parent) and not allow_end):
        raise PatchError(422, "%s operation: index out of range" % op)
    return i


def _get(doc, path, op):
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _container(doc, parts, op)
    key = parts[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise PatchError(422, "%s operation does not apply: doc is missing path" % op)
        return parent[key]
    if isinstance(parent, list):
        return parent[_index(parent, key, op)]
    raise PatchError(422, "%s operation does not apply: doc is missing path" % op)


def _add(doc, path, value):
    parts = _pointer(path)
    if not parts:
        return value
    parent = _container(doc, parts, "add")
    key = parts[-1]
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, key, "add", allow_end=True), value)
    else:
        raise PatchError(422, "add operation does not apply: doc is missing path")
    return doc


def _remove(doc, path, op="remove"):
    parts = _pointer(path)
    if not parts:
        raise PatchError(422, "%s operation: cannot remove the whole document" % op)
    parent = _container(doc, parts, op)
    key = parts[-1]
    if isinstance(parent, dict):
        if key not in parent:
            raise PatchError(422, "%s operation does not apply: doc is missing path" % op)
        return parent.pop(key)
    if isinstance(parent, list):
        return parent.pop(_index(parent, key, op))
    raise PatchError(422, "%s operation does not apply: doc is missing path" % op)


def apply_json_patch(obj, ops):
    """Applies RFC 6902 operations to a copy of obj; all or nothing."""
    if not isinstance(ops, list):
        raise PatchError(400, "json: cannot unmarshal %s into Go value of type jsonpatch.Patch"
                         % ("object" if isinstance(ops, dict) else type(ops).__name__))
    doc = copy.deepcopy(obj)
    for o in ops:
        if not isinstance(o, dict) or "op" not in o:
            raise PatchError(422, "Unexpected kind: unknown")
        op, path = o["op"], o.get("path")
        if not isinstance(path, str):
            raise PatchError(422, "%s operation: missing path" % op)
        if op in ("add", "replace", "test") and "value" not in o:
            raise PatchError(422, "%s operation: missing value" % op)
        if op == "add":
            doc = _add(doc, path, copy.deepcopy(o["value"]))
        elif op == "remove":
            _remove(doc, path)
        elif op == "replace":
            _get(doc, path, "replace")
            parts = _pointer(path)
            if not parts:
                doc = copy.deepcopy(o["value"])
            else:
                parent = _container(doc, parts, "replace")
                key = parts[-1]
                if isinstance(parent, list):
                    parent[_index(parent, key, "replace")] = copy.deepcopy(o["value"])
                else:
                    parent[key] = copy.deepcopy(o["value"])
        elif op == "move":
            value = _remove(doc, o.get("from", ""), "move")
            doc = _add(doc, path, value)
        elif op == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, o.get("from", ""), "copy")))
        elif op == "test":
            try:
                have = _get(doc, path, "test")
            except PatchError:
                have = None
            if have != o["value"]:
                raise PatchError(422, "testing value %s failed: test failed" % path)
        else:
            raise PatchError(422, "Unexpected kind: %s" % op)
    return doc


# --- strategic merge patch ------------------------------------------------------------------

# patchMergeKey of the list fields a StatefulSet holds (k8s.io/api struct tags); lists not
# named here are replaced by the patch, as the atomic lists of the schema are.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "imagePullSecrets": "name", "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name",
}
DIRECTIVE_PREFIXES = ("$setElementOrder/", "$retainKeys", "$deleteFromPrimitiveList/")


def strategic_merge_patch(obj, patch):
    if not isinstance(patch, dict):
        raise PatchError(400, "json: cannot unmarshal %s into Go value of type "
                         "map[string]interface {}" % type(patch).__name__)
    return _smp_map(copy.deepcopy(obj), patch)


def _smp_map(target, patch):
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive is not None:
        raise PatchError(400, "Unknown patch type: %s in map: %s" % (directive, patch))
    for key, value in patch.items():
        if key.startswith(DIRECTIVE_PREFIXES):
            continue
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            merged = _smp_map(target.get(key), value)
            if merged is None:
                target.pop(key, None)
            else:
                target[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS:
            target[key] = _smp_list(target.get(key) or [], value, MERGE_KEYS[key])
        else:
            target[key] = copy.deepcopy(value)
    return target


def _smp_list(target, patch, merge_key):
    out = copy.deepcopy(target)
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(400, "unable to find api field in struct for the merge key %s"
                             % merge_key)
        if item.get("$patch") == "replace":
            return [{k: copy.deepcopy(v) for k, v in i.items() if k != "$patch"}
                    for i in patch if i.get("$patch") != "replace"]
        key = item.get(merge_key)
        if key is None:
            raise PatchError(400, "map: %s does not contain declared merge key: %s"
                             % (item, merge_key))
        found = next((i for i, e in enumerate(out) if e.get(merge_key) == key), None)
        if item.get("$patch") == "delete":
            if found is not None:
                out.pop(found)
        elif found is None:
            out.append(_smp_map({}, item))
        else:
            out[found] = _smp_map(out[found], item)
    return out
