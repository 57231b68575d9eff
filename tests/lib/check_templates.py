#!/usr/bin/env python3
"""check_templates.py - static checks of the deployment templates in
hpc-templates/ (no Azure, no CycleCloud, no Slurm needed). Each subcommand
prints "ok: ..." lines for what holds and "FAIL: ..." lines for what does not,
and exits 1 when anything failed, so a TAP test can run one subcommand per
test line:

  arm          hpc-templates/azure/main.json parses and declares the Spot scale
               set (eviction policy, price cap, terminate notification,
               system-assigned identity, cloud-init custom data), the queue and
               its poison queue, the "Storage Queue Data Message Processor"
               role assignment to the scale set's identity, and the autoscale
               setting on the queue's message count (out per instance, in to
               zero).
  parity       main.bicep and main.json agree: same parameters (order, types,
               literal defaults, allowed values), variables, resources (symbolic
               names, type@apiVersion, conditions, dependsOn) and outputs.
  cloud-init   cloud-init.yaml starts with #cloud-config, parses as YAML, installs
               the build dependencies and sets up the worker service (restart on
               75, stop on 0); main.json's customData is its base64.
  cyclecloud   the CycleCloud template's sections are well formed ([x], [[x]],
               [[[x]]] nested one level at a time, every other line key = value)
               and it has the cluster, scheduler, HPC and Spot node arrays
               (Interruptible, MaxPrice, terminate notification).
  scripts      lists every shell script of the repository, one path a line:
               *.sh under hpc-templates, jobs and tests, and every file whose
               first line is a sh/bash shebang (build directories and .git left
               out).
  extract DIR  writes the scripts embedded in cloud-init.yaml (sh and python3)
               to DIR, for shellcheck and py_compile, and lists them.
  --sync-custom-data  rewrites every customData of main.json as the base64 of
               cloud-init.yaml (after editing cloud-init.yaml).

Run from the repository root (paths are relative to it) or give --root DIR.
The Bicep reader is deliberately small: it understands the subset main.bicep
uses (one declaration per line, resource bodies closed by "}" in column 0).
"""
import base64
import json
import os
import re
import sys

AZ = "hpc-templates/azure"
BICEP = AZ + "/main.bicep"
ARM = AZ + "/main.json"
CLOUD_INIT = AZ + "/cloud-init.yaml"
CC_TEMPLATE = "hpc-templates/cyclecloud/mpibatch-slurm.txt"
ROLE_MESSAGE_PROCESSOR = "8a0f0c08-91a1-4084-bc3d-661d67233fed"
QUEUE_METRIC_NS = "microsoft.storage/storageaccounts/queueservices"
BUILD_PACKAGES = ["openmpi-bin", "libopenmpi-dev", "libhdf5-openmpi-dev", "hdf5-tools",
                  "libcurl4-openssl-dev", "libssl-dev", "libexpat1-dev", "libjansson-dev",
                  "libinih-dev", "libpg-query-dev", "make", "gcc", "git", "pkg-config"]


class Report:
    """Collects ok/FAIL lines; failed() says whether any check failed."""

    def __init__(self):
        self.fails = 0

    def check(self, cond, what):
        print(("ok: " if cond else "FAIL: ") + what)
        if not cond:
            self.fails += 1
        return cond

    def failed(self):
        return self.fails > 0


# ---------------------------------------------------------------- ARM JSON

def load_arm(rep):
    try:
        with open(ARM) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        rep.check(False, "%s parses as JSON (%s)" % (ARM, e))
        return None


SIMPLE_REF = re.compile(r"^\[(parameters|variables)\('([A-Za-z0-9_]+)'\)\]$")


def resolve(t, value, depth=0):
    """The value of VALUE when it is a literal or a plain parameters('x') /
    variables('x') reference (a parameter's default); else VALUE itself."""
    m = SIMPLE_REF.match(value) if isinstance(value, str) else None
    if not m or depth > 10:
        return value
    kind, name = m.groups()
    if kind == "parameters":
        p = t.get("parameters", {}).get(name, {})
        return resolve(t, p.get("defaultValue", value), depth + 1)
    return resolve(t, t.get("variables", {}).get(name, value), depth + 1)


def expand_vars(t, text):
    """TEXT with every variables('x') whose value is a plain string replaced
    by that value (quoted)."""
    def sub(m):
        v = t.get("variables", {}).get(m.group(1))
        return "'%s'" % v if isinstance(v, str) and not v.startswith("[") else m.group(0)
    return re.sub(r"variables\('(\w+)'\)", sub, text)


def resources(t):
    """(symbolic name, resource) pairs, whether resources is an object
    (languageVersion 2.0) or an array."""
    r = t.get("resources", {})
    if isinstance(r, dict):
        return list(r.items())
    return [(x.get("name", "?"), x) for x in r]


def of_type(t, typ):
    return [(n, r) for n, r in resources(t) if r.get("type", "").lower() == typ.lower()]


def check_arm(rep):
    t = load_arm(rep)
    if t is None:
        return
    rep.check(True, "%s parses as JSON" % ARM)
    ss = of_type(t, "Microsoft.Compute/virtualMachineScaleSets")
    if not rep.check(len(ss) == 1, "one virtual machine scale set"):
        return
    ss_name, vmss = ss[0]
    props = vmss.get("properties", {})
    vmp = props.get("virtualMachineProfile", {})
    rep.check(vmp.get("priority") == "Spot", "the scale set's priority is Spot")
    ev = vmp.get("evictionPolicy")
    allowed = t["parameters"].get("evictionPolicy", {}).get("allowedValues", [])
    rep.check(resolve(t, ev) in ("Delete", "Deallocate") and set(allowed) <= {"Delete", "Deallocate"},
              "eviction policy Delete or Deallocate (%s = %s)" % (ev, resolve(t, ev)))
    mp = vmp.get("billingProfile", {}).get("maxPrice")
    rep.check(mp is not None and "spotMaxPrice" in str(mp) and
              t["parameters"].get("spotMaxPrice", {}).get("defaultValue") == "-1",
              "billingProfile.maxPrice from spotMaxPrice (default -1)")
    tn = vmp.get("scheduledEventsProfile", {}).get("terminateNotificationProfile", {})
    rep.check(tn.get("enable") is True and tn.get("notBeforeTimeout") == "PT5M",
              "terminate notification enabled, notBeforeTimeout PT5M")
    rep.check("SystemAssigned" in str(vmss.get("identity", {}).get("type", "")),
              "the scale set has a system-assigned managed identity")
    sku = resolve(t, vmss.get("sku", {}).get("name"))
    rep.check(isinstance(sku, str) and sku.startswith("Standard_H"),
              "HPC VM size by default (%s)" % sku)
    rep.check(vmp.get("osProfile", {}).get("customData") is not None, "custom data (cloud-init) set")
    rep.check(props.get("orchestrationMode") in ("Uniform", "Flexible"),
              "orchestration mode %s" % props.get("orchestrationMode"))

    accounts = [r for _, r in of_type(t, "Microsoft.Storage/storageAccounts")]
    qacc = [r for r in accounts if r.get("kind") == "StorageV2"]
    if rep.check(len(qacc) == 1, "a StorageV2 account for the queue"):
        p = qacc[0].get("properties", {})
        rep.check(p.get("minimumTlsVersion") == "TLS1_2" and p.get("allowBlobPublicAccess") is False
                  and "allowSharedKeyAccess" in p,
                  "queue account: TLS 1.2, no public blob access, allowSharedKeyAccess decided")
    queues = [resolve(t, r.get("name", "")) for _, r in of_type(t, "Microsoft.Storage/storageAccounts/queueServices/queues")]
    qn = t["parameters"].get("queueName", {}).get("defaultValue", "")
    rep.check(len(queues) == 2 and any("queueName" in q for q in queues) and
              any("poisonQueueName" in q for q in queues) and
              "-poison" in t.get("variables", {}).get("poisonQueueName", ""),
              "the queue (%s) and its -poison queue" % qn)
    shares = of_type(t, "Microsoft.Storage/storageAccounts/fileServices/shares")
    rep.check(len(shares) == 1 and shares[0][1].get("properties", {}).get("enabledProtocols") == "NFS",
              "an NFS file share")
    rep.check(len(of_type(t, "Microsoft.Network/virtualNetworks")) == 1, "a virtual network")

    ras = of_type(t, "Microsoft.Authorization/roleAssignments")
    mp_ras = [(n, r) for n, r in ras
              if ROLE_MESSAGE_PROCESSOR in expand_vars(t, r.get("properties", {}).get("roleDefinitionId", ""))]
    ok = False
    for n, r in mp_ras:
        p = r["properties"]
        ok = ("'%s'" % ss_name in p.get("principalId", "") and "identity.principalId" in p.get("principalId", "")
              and "queue" in r.get("scope", "").lower() and r.get("name", "").startswith("[guid("))
        if ok:
            break
    rep.check(ok, "role assignment (guid name) of Storage Queue Data Message Processor (%s) "
              "to the scale set's identity on the queue" % ROLE_MESSAGE_PROCESSOR)

    asc = of_type(t, "Microsoft.Insights/autoscalesettings")
    if not rep.check(len(asc) == 1, "one autoscale setting"):
        return
    ap = asc[0][1].get("properties", {})
    rep.check(ss_name in ap.get("targetResourceUri", "") or "virtualMachineScaleSets" in ap.get("targetResourceUri", ""),
              "the autoscale setting targets the scale set")
    prof = (ap.get("profiles") or [{}])[0]
    cap = prof.get("capacity", {})
    rep.check(str(resolve(t, "[parameters('minInstances')]")) == "0" and "minInstances" in cap.get("minimum", ""),
              "autoscale minimum 0 (minInstances)")
    out = [r for r in prof.get("rules", []) if r.get("scaleAction", {}).get("direction") == "Increase"]
    inn = [r for r in prof.get("rules", []) if r.get("scaleAction", {}).get("direction") == "Decrease"]
    if rep.check(len(out) == 1, "one scale-out rule"):
        m = out[0]["metricTrigger"]
        rep.check(resolve(t, m.get("metricName")) == "QueueMessageCount", "scale-out metric QueueMessageCount")
        rep.check(resolve(t, m.get("metricNamespace")) == QUEUE_METRIC_NS or
                  QUEUE_METRIC_NS in str(t.get("variables", {}).get("metricNamespace", "")),
                  "metric namespace %s" % QUEUE_METRIC_NS)
        rep.check("queueServices" in m.get("metricResourceUri", ""), "metric resource: the queue service")
        rep.check(m.get("operator") == "GreaterThan" and m.get("dividePerInstance") is True,
                  "scale out when the count per instance is GreaterThan the threshold (dividePerInstance)")
    if rep.check(len(inn) == 1, "one scale-in rule"):
        m = inn[0]["metricTrigger"]
        rep.check(m.get("operator") in ("LessThanOrEqual", "Equals") and m.get("threshold") == 0,
                  "scale in when the queue is empty")
        rep.check("minInstances" in inn[0]["scaleAction"].get("value", ""), "scale in to minInstances")


# ---------------------------------------------------------------- Bicep

BICEP_TYPES = {"string": "string", "int": "int", "bool": "bool", "object": "object", "array": "array"}


def strip_comment(line):
    """LINE without a // comment (outside single-quoted strings)."""
    q = False
    for i, c in enumerate(line):
        if c == "'":
            q = not q
        elif not q and line.startswith("//", i):
            return line[:i]
    return line


def parse_bicep(path):
    """{params: [(name, type, default-text, allowed, secure)], variables: [names],
    resources: [(sym, type, api, conditional, body)], outputs: [names]}"""
    lines = [strip_comment(x).rstrip() for x in open(path).read().split("\n")]
    out = {"params": [], "variables": [], "resources": [], "outputs": []}
    decorators = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("@"):
            # @allowed([ ... ]) may span lines.
            dec = ln
            while dec.count("(") > dec.count(")"):
                i += 1
                dec += "\n" + lines[i]
            decorators.append(dec)
            i += 1
            continue
        m = re.match(r"^param (\w+) (\w+)(?: = (.*))?$", ln)
        if m:
            allowed = None
            for d in decorators:
                if d.startswith("@allowed"):
                    allowed = re.findall(r"'([^']*)'", d)
            secure = any(d.startswith("@secure") for d in decorators)
            out["params"].append((m.group(1), m.group(2), m.group(3), allowed, secure))
            decorators = []
            i += 1
            continue
        decorators = []
        m = re.match(r"^var (\w+) = ", ln)
        if m:
            out["variables"].append(m.group(1))
        m = re.match(r"^output (\w+) ", ln)
        if m:
            out["outputs"].append(m.group(1))
        m = re.match(r"^resource (\w+) '([^'@]+)@([^']+)'( existing)? = (if \(.*\) )?\{$", ln)
        if m:
            body = []
            i += 1
            while i < len(lines) and lines[i] != "}":
                body.append(lines[i])
                i += 1
            out["resources"].append((m.group(1), m.group(2), m.group(3), bool(m.group(5)), "\n".join(body)))
        i += 1
    return out


def bicep_literal(text):
    """The JSON value of a literal Bicep default, or None for an expression."""
    if text is None:
        return None
    if re.fullmatch(r"'[^'$]*'", text):
        return text[1:-1]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false"):
        return text == "true"
    return None


def bicep_refs(body, symbols):
    """Symbolic names a resource body refers to (sym.prop, parent/scope: sym,
    dependsOn list items)."""
    refs = set()
    for s in symbols:
        if re.search(r"\b%s\." % re.escape(s), body) or \
           re.search(r"^\s*(parent|scope): %s\s*$" % re.escape(s), body, re.M):
            refs.add(s)
    m = re.search(r"^  dependsOn: \[\n(.*?)\n  \]", body, re.M | re.S)
    if m:
        refs.update(x.strip() for x in m.group(1).split("\n") if x.strip())
    return refs


def check_parity(rep):
    t = load_arm(rep)
    if t is None:
        return
    try:
        b = parse_bicep(BICEP)
    except OSError as e:
        rep.check(False, "%s readable (%s)" % (BICEP, e))
        return
    rep.check(t.get("languageVersion") == "2.0" and isinstance(t.get("resources"), dict),
              "main.json uses symbolic names (languageVersion 2.0)")
    jp = t.get("parameters", {})
    rep.check([p[0] for p in b["params"]] == list(jp),
              "same parameters in the same order (%d)" % len(jp))
    for name, typ, default, allowed, secure in b["params"]:
        j = jp.get(name)
        if j is None:
            continue
        want = ("secure" + typ) if secure else BICEP_TYPES.get(typ, typ)
        rep.check(j.get("type") == want, "parameter %s: type %s" % (name, want))
        lit = bicep_literal(default)
        if default is None:
            rep.check("defaultValue" not in j, "parameter %s: no default in either" % name)
        elif lit is not None:
            rep.check(j.get("defaultValue") == lit, "parameter %s: default %r" % (name, lit))
        else:
            dv = j.get("defaultValue")
            rep.check(isinstance(dv, str) and dv.startswith("["),
                      "parameter %s: an expression default in both" % name)
        if allowed is not None or "allowedValues" in j:
            rep.check(allowed == j.get("allowedValues"), "parameter %s: same allowed values" % name)
    rep.check(b["variables"] == list(t.get("variables", {})),
              "same variables in the same order (%d)" % len(b["variables"]))
    jr = t.get("resources", {})
    syms = [r[0] for r in b["resources"]]
    rep.check(syms == list(jr), "same resources under the same symbolic names, in order (%d)" % len(syms))
    for sym, typ, api, cond, body in b["resources"]:
        j = jr.get(sym)
        if j is None:
            continue
        rep.check(j.get("type") == typ and j.get("apiVersion") == api,
                  "resource %s: %s@%s" % (sym, typ, api))
        rep.check(("condition" in j) == cond, "resource %s: %s" % (sym, "conditional" if cond else "unconditional"))
        want = bicep_refs(body, syms) - {sym}
        got = set(j.get("dependsOn", []))
        rep.check(got == want, "resource %s: dependsOn %s" % (sym, sorted(want) or "nothing")
                  + ("" if got == want else " (main.json has %s)" % sorted(got)))
        rep.check(("loadFileAsBase64('cloud-init.yaml')" in body) ==
                  ("customData" in json.dumps(j)),
                  "resource %s: custom data in both or neither" % sym)
    rep.check(b["outputs"] == list(t.get("outputs", {})), "same outputs (%d)" % len(b["outputs"]))


# ---------------------------------------------------------------- cloud-init

def custom_data_paths(node, path=()):
    """Paths (key tuples) of every customData value in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "customData":
                yield path + (k,)
            else:
                yield from custom_data_paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from custom_data_paths(v, path + (i,))


def check_cloud_init(rep):
    try:
        import yaml
    except ImportError:
        rep.check(False, "python3 yaml module (apt-get install -y python3-yaml)")
        return
    raw = open(CLOUD_INIT, "rb").read()
    rep.check(raw.startswith(b"#cloud-config\n"), "cloud-init.yaml starts with #cloud-config")
    try:
        d = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        rep.check(False, "cloud-init.yaml parses as YAML (%s)" % e)
        return
    if not rep.check(isinstance(d, dict), "cloud-init.yaml parses as a YAML mapping"):
        return
    missing = [p for p in BUILD_PACKAGES + ["nfs-common"] if p not in d.get("packages", [])]
    rep.check(not missing, "installs the build dependencies and nfs-common" +
              (" (missing %s)" % missing if missing else ""))
    files = {w.get("path"): w.get("content", "") for w in d.get("write_files", [])}
    svc = files.get("/etc/systemd/system/mpibatch-worker.service", "")
    rep.check("Restart=on-failure" in svc and "KillMode=mixed" in svc and
              re.search(r"^RestartPreventExitStatus=.*\b64\b", svc, re.M) is not None,
              "worker unit: restarts on failure (75), SIGTERM to the worker alone")
    rep.check("OnUnitInactiveSec=" in files.get("/etc/systemd/system/mpibatch-worker.timer", ""),
              "worker timer starts the worker again after a clean exit")
    w = files.get("/usr/local/sbin/mpibatch-worker", "")
    rep.check(re.search(r"mpibatch run --queue \"\$MPIBATCH_QUEUE_URL\" --out /shared/out", w) is not None
              and "--idle-exit" in w and "--checkpoint-dir \"$ckpt\"" in w and 'ckpt=$root/$(hostname)' in w,
              "worker runs mpibatch run --queue URL --out /shared/out --job --checkpoint-dir /shared/ckpt/HOST --idle-exit")
    rep.check("mount" in files.get("/usr/local/sbin/mpibatch-mount", "") and
              "/shared" in files.get("/usr/local/sbin/mpibatch-mount", ""), "mounts the share at /shared")
    rep.check(not re.search(r"AccountKey=|SharedAccessSignature|sig=", raw.decode()),
              "no key or SAS in the custom data")
    t = load_arm(rep)
    if t is None:
        return
    want = base64.b64encode(raw).decode()
    paths = list(custom_data_paths(t))
    for p in paths:
        node = t
        for k in p:
            node = node[k]
        rep.check(node == want, "main.json %s is the base64 of cloud-init.yaml" % "/".join(map(str, p[:2])))
    rep.check(len(paths) == open(BICEP).read().count("loadFileAsBase64('cloud-init.yaml')"),
              "as many customData in main.json as loadFileAsBase64 in main.bicep")


def sync_custom_data():
    raw = open(CLOUD_INIT, "rb").read()
    want = base64.b64encode(raw).decode()
    with open(ARM) as f:
        t = json.load(f)
    for p in custom_data_paths(t):
        node = t
        for k in p[:-1]:
            node = node[k]
        node[p[-1]] = want
    with open(ARM + ".tmp", "w") as f:
        f.write(json.dumps(t, indent=2) + "\n")
    os.replace(ARM + ".tmp", ARM)
    print("updated the customData of %s" % ARM)


def extract(dirname):
    import yaml
    d = yaml.safe_load(open(CLOUD_INIT))
    os.makedirs(dirname, exist_ok=True)
    for w in d.get("write_files", []):
        c = w.get("content", "")
        if re.match(r"#!\s*(/bin/(ba)?sh|/usr/bin/env python3)\b", c):
            p = os.path.join(dirname, os.path.basename(w["path"]))
            with open(p, "w") as f:
                f.write(c)
            print(p)


# ---------------------------------------------------------------- CycleCloud

def parse_cyclecloud(path, rep):
    """Sections as {"kind name": {"depth", "kind", "name", "props", "children", "parent"}}
    keyed by their path; checks the structure on the way."""
    root = {"depth": 0, "kind": "", "name": "", "props": {}, "children": [], "parent": None}
    cur = root
    ok = True
    for no, line in enumerate(open(path).read().split("\n"), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        m = re.fullmatch(r"(\[+)([^\[\]]+)(\]+)", s)
        if s.startswith("["):
            if not m or len(m.group(1)) != len(m.group(3)):
                ok = rep.check(False, "line %d: unbalanced section header %r" % (no, s))
                continue
            depth = len(m.group(1))
            if depth > cur["depth"] + 1:
                ok = rep.check(False, "line %d: %r skips a level (inside depth %d)" % (no, s, cur["depth"]))
                continue
            while cur["depth"] >= depth:
                cur = cur["parent"]
            words = m.group(2).split(None, 1)
            sec = {"depth": depth, "kind": words[0], "name": words[1] if len(words) > 1 else "",
                   "props": {}, "children": [], "parent": cur, "line": no}
            cur["children"].append(sec)
            cur = sec
            continue
        if cur is root:
            ok = rep.check(False, "line %d: %r outside any section" % (no, s))
            continue
        if s.startswith("'''") or s.endswith("'''") and "=" not in s:
            continue
        km = re.match(r"^([A-Za-z_][\w.\-]*)\s*:?=\s*(.*)$", s)
        if not km:
            ok = rep.check(False, "line %d: not key = value: %r" % (no, s))
            continue
        cur["props"][km.group(1)] = km.group(2)
    rep.check(ok, "%s: headers balanced and nested one level at a time, every line key = value" % path)
    return root


def check_cyclecloud(rep):
    try:
        root = parse_cyclecloud(CC_TEMPLATE, rep)
    except OSError as e:
        rep.check(False, "%s readable (%s)" % (CC_TEMPLATE, e))
        return
    clusters = [c for c in root["children"] if c["kind"] == "cluster"]
    if not rep.check(len(clusters) == 1 and clusters[0]["name"], "one [cluster NAME] section"):
        return
    cl = clusters[0]
    nodes = {(c["kind"], c["name"]): c for c in cl["children"]}
    defaults = nodes.get(("node", "defaults"), {"props": {}, "children": []})
    rep.check(("node", "defaults") in nodes, "[[node defaults]]")
    rep.check(("node", "scheduler") in nodes, "[[node scheduler]]")
    params = {c["name"].split()[0]: c for c in root["children"] if c["kind"] == "parameters"}
    defined = set()

    def walk(sec):
        for c in sec["children"]:
            if c["kind"] == "parameter":
                defined.add(c["name"])
            walk(c)
    for p in params.values():
        walk(p)

    def effective(sec):
        """Properties with inheritance: node defaults, then Extends, then own."""
        props = dict(defaults["props"])
        base = sec["props"].get("Extends")
        if base and ("node", base) in nodes:
            props.update(nodes[("node", base)]["props"])
        props.update(sec["props"])
        return props

    def value(v):
        """A $Parameter's default value, else the text."""
        m = re.fullmatch(r"\$(\w+)", v or "")
        if m:
            for p in params.values():
                stack = [p]
                while stack:
                    s = stack.pop()
                    if s["kind"] == "parameter" and s["name"] == m.group(1):
                        return s["props"].get("DefaultValue", v)
                    stack.extend(s["children"])
        return v

    arrays = [c for c in cl["children"] if c["kind"] == "nodearray"]
    hpc = [a for a in arrays if str(value(effective(a).get("MachineType", ""))).startswith("Standard_HB")
           and effective(a).get("Interruptible", "false").lower() != "true"]
    spot = [a for a in arrays if effective(a).get("Interruptible", "").lower() == "true"]
    rep.check(len(hpc) >= 1, "an HPC nodearray of HB-series VMs (%s)" % ", ".join(a["name"] for a in hpc))
    if rep.check(len(spot) >= 1, "a Spot nodearray (Interruptible = true): %s" % ", ".join(a["name"] for a in spot)):
        e = effective(spot[0])
        rep.check("MaxPrice" in e, "Spot nodearray has MaxPrice (%s)" % value(e.get("MaxPrice")))
        rep.check(e.get("EnableTerminateNotification", "").lower() == "true" and
                  "TerminateNotificationTimeout" in e,
                  "Spot nodearray: EnableTerminateNotification with TerminateNotificationTimeout")
    used = set()
    for line in open(CC_TEMPLATE):
        if "=" in line and not line.strip().startswith("#"):
            used.update(re.findall(r"\$(\w+)", line.split("=", 1)[1]))
            used.update(w for w in re.findall(r"\$\{([^}]*)\}", line.split("=", 1)[1])
                        for w in re.findall(r"[A-Za-z_]\w*", w) if w in defined)
    undefined = sorted(u for u in used if u not in defined)
    rep.check(not undefined, "every $Parameter used is defined" + (" (not: %s)" % undefined if undefined else ""))
    mounts = [c for c in defaults.get("children", []) if c["kind"] == "configuration"
              and c["name"].startswith("cyclecloud.mounts.")]
    rep.check(any(m["props"].get("mountpoint") == "/shared" for m in mounts), "a shared NFS mount at /shared")
    inits = [c["name"] for c in defaults.get("children", []) if c["kind"] == "cluster-init"]
    rep.check(any(i.startswith("mpibatch:default:") for i in inits), "the mpibatch cluster-init project on every node")


# ---------------------------------------------------------------- scripts

SKIP_DIRS = {".git", "build", "build-asan", "node_modules"}
SHEBANG = re.compile(r"^#!\s*(/usr)?/bin/(env\s+)?(ba|da)?sh\b")


def shell_scripts():
    found = set()
    for top in ("hpc-templates", "jobs", "tests"):
        for dp, dns, fns in os.walk(top):
            dns[:] = [d for d in dns if d not in SKIP_DIRS]
            found.update(os.path.join(dp, f) for f in fns if f.endswith(".sh"))
    for dp, dns, fns in os.walk("."):
        dns[:] = sorted(d for d in dns if d not in SKIP_DIRS and not d.startswith("build"))
        for f in fns:
            p = os.path.join(dp, f)
            try:
                with open(p, "rb") as fh:
                    first = fh.readline(200)
            except OSError:
                continue
            if SHEBANG.match(first.decode("utf-8", "replace")):
                found.add(os.path.normpath(p))
    return sorted(os.path.normpath(p) for p in found)


def main(argv):
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--root":
        os.chdir(args[1])
        args = args[2:]
    if not args:
        print(__doc__)
        return 64
    cmd = args[0]
    if cmd == "scripts":
        print("\n".join(shell_scripts()))
        return 0
    if cmd == "extract" and len(args) == 2:
        extract(args[1])
        return 0
    if cmd == "--sync-custom-data":
        sync_custom_data()
        return 0
    checks = {"arm": check_arm, "parity": check_parity, "cloud-init": check_cloud_init,
              "cyclecloud": check_cyclecloud}
    if cmd not in checks:
        print("unknown subcommand %r (see --help)" % cmd, file=sys.stderr)
        return 64
    rep = Report()
    checks[cmd](rep)
    return 1 if rep.failed() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
