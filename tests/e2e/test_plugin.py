"""kubectl plugin integration: discovery, plugin completion through the real
kubectl (docs/kubernetes.md §4), shell completion scripts, man page, install,
and the krew archive and manifest (docs/kubernetes.md §5)."""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest
import yaml

from conftest import BIN, ROOT, run_plugin

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
KUBECTL_133 = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33"
if not os.path.exists(KUBECTL_133):
    KUBECTL_133 = KUBECTL


@pytest.fixture
def plugin_path(tmp_path):
    """A PATH directory holding only our plugin and its completion helper."""
    d = tmp_path / "bin"
    d.mkdir()
    os.symlink(BIN, d / "kubectl-vault_ha")
    helper = d / "kubectl_complete-vault_ha"
    helper.write_text(run_plugin(["completion", "kubectl"]).stdout)
    helper.chmod(0o755)
    return d


def kubectl(plugin_path, *args, env=None, kubeconfig=None):
    e = {"PATH": "%s:/usr/bin:/bin" % plugin_path, "HOME": str(plugin_path.parent)}
    if kubeconfig:
        e["KUBECONFIG"] = str(kubeconfig)
    else:
        e["KUBECONFIG"] = "/nonexistent"
    if env:
        e.update(env)
    return subprocess.run([KUBECTL_133] + list(args), env=e, capture_output=True, text=True,
                          timeout=60)


def test_kubectl_runs_the_plugin(plugin_path):
    r = kubectl(plugin_path, "vault-ha", "version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("kubectl-vault_ha 0.1.0 (libcurl ")


def test_plugin_list_shows_it_without_warnings(plugin_path):
    r = kubectl(plugin_path, "plugin", "list")
    assert r.returncode == 0, r.stderr
    assert str(plugin_path / "kubectl-vault_ha") in r.stdout
    assert "warning" not in (r.stdout + r.stderr).lower()
    assert "kubectl_complete" not in r.stdout


def test_help_names_the_command_as_users_type_it(plugin_path):
    r = kubectl(plugin_path, "vault-ha", "unseal", "--help")
    assert r.returncode == 0
    assert "Usage: kubectl vault-ha unseal [POD...]" in r.stdout
    assert "kubectl vault-ha unseal --keys-file" in r.stdout


def lines(out):
    return [l for l in out.splitlines() if l]


def test_kubectl_completes_commands_through_the_helper(plugin_path):
    r = kubectl(plugin_path, "__complete", "vault-ha", "st")
    assert r.returncode == 0, r.stderr
    got = lines(r.stdout)
    assert got[-1] == ":4"
    names = [l.split("\t")[0] for l in got[:-1]]
    assert names == ["status", "step-down"]


def test_kubectl_completes_flags_and_values(plugin_path):
    r = kubectl(plugin_path, "__complete", "vault-ha", "status", "-o", "")
    assert lines(r.stdout) == ["table", "wide", "json", "yaml", ":4"]
    r = kubectl(plugin_path, "__complete", "vault-ha", "unseal", "--keys")
    got = lines(r.stdout)
    assert got[0].startswith("--keys-file\t")
    assert got[-1] == ":4"
    r = kubectl(plugin_path, "__complete", "vault-ha", "unseal", "--keys-file", "")
    assert lines(r.stdout) == [":0"]  # files


def test_kubectl_completes_pods_and_contexts_from_the_fake(plugin_path, fake):
    r = kubectl(plugin_path, "__complete", "vault-ha", "unseal", "vault-", kubeconfig=fake.kubeconfig)
    assert r.returncode == 0, r.stderr
    names = [l.split("\t")[0] for l in lines(r.stdout)]
    assert names == ["vault-0", "vault-1", "vault-2", ":4"]
    r = kubectl(plugin_path, "__complete", "vault-ha", "--context", "fake-t",
                kubeconfig=fake.kubeconfig)
    names = [l.split("\t")[0] for l in lines(r.stdout)]
    assert "fake-token" in names and names[-1] == ":4"
    r = kubectl(plugin_path, "__complete", "vault-ha", "-n", "", kubeconfig=fake.kubeconfig)
    assert "vault" in [l.split("\t")[0] for l in lines(r.stdout)]


def test_completion_reads_the_words_as_the_parser_does(plugin_path, fake):
    """Completion and the parser share one reading of the command line (plugin/cmd.c,
    cmd_words_next): values attached (-nNS, --x=V) or in the next word, kubectl's --v=N, and
    words after a flag's value."""
    def names(*words):
        r = kubectl(plugin_path, "__complete", "vault-ha", *words, kubeconfig=fake.kubeconfig)
        assert r.returncode == 0, r.stderr
        return [l.split("\t")[0] for l in lines(r.stdout)]
    # -o's value is the next word, so "st" is where the command goes.
    assert names("-o", "json", "st") == ["status", "step-down", ":4"]
    # -nvault and --namespace=vault both reach the namespace the pods are listed from.
    pods = ["vault-0", "vault-1", "vault-2", ":4"]
    assert names("-nvault", "unseal", "vault-") == pods
    assert names("--namespace=vault", "unseal", "vault-") == pods
    assert names("-n", "nowhere", "unseal", "vault-") == [":4"]
    # --v=4 is a flag with its value inline: "--keys-file ks" after it, then a pod.
    assert names("--v=4", "unseal", "--keys-file", "ks", "vault-") == pods
    # The parser reads the same words the same way.
    r = subprocess.run([os.path.join(plugin_path, "kubectl-vault_ha"), "-o", "json", "--v=0",
                        "version"], capture_output=True, text=True)
    assert r.returncode == 0 and json.loads(r.stdout)["version"], r.stdout + r.stderr
    r = subprocess.run([os.path.join(plugin_path, "kubectl-vault_ha"), "-vx", "version"],
                       capture_output=True, text=True)
    assert r.returncode == 64 and 'unknown flag "-vx"' in r.stderr, r.stderr
    assert names("-vx", "st") == ["status", "step-down", ":4"]


def test_completion_gives_up_quickly_on_an_unreachable_server(plugin_path, tmp_path):
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: c\n"
                  "  cluster: {server: 'https://10.255.255.1:6443', insecure-skip-tls-verify: true}\n"
                  "contexts:\n- name: c\n  context: {cluster: c, user: u}\nusers:\n- name: u\n"
                  "  user: {token: t}\n")
    r = kubectl(plugin_path, "__complete", "vault-ha", "unseal", "", kubeconfig=kc)
    assert r.returncode == 0
    assert lines(r.stdout) == [":4"]


def test_bash_completion(plugin_path, fake, tmp_path):
    script = tmp_path / "completion.bash"
    script.write_text(run_plugin(["completion", "bash"]).stdout)
    prog = '''
source %s
complete -p kubectl-vault_ha
COMP_WORDS=(kubectl-vault_ha st); COMP_CWORD=1; _kubectl_vault_ha; echo "R1:${COMPREPLY[*]}"
COMP_WORDS=(kubectl-vault_ha status -o j); COMP_CWORD=3; _kubectl_vault_ha; echo "R2:${COMPREPLY[*]}"
COMP_WORDS=(kubectl-vault_ha unseal ""); COMP_CWORD=2; _kubectl_vault_ha; echo "R3:${COMPREPLY[*]}"
''' % script
    env = {"PATH": "%s:/usr/bin:/bin" % plugin_path, "KUBECONFIG": str(fake.kubeconfig)}
    r = subprocess.run(["bash", "--norc", "-c", prog], env=env, capture_output=True, text=True,
                       timeout=60)
    assert "complete -F _kubectl_vault_ha kubectl-vault_ha" in r.stdout
    assert "R1:status step-down" in r.stdout
    assert "R2:json" in r.stdout
    assert "R3:vault-0 vault-1 vault-2" in r.stdout


def test_completion_files_match_the_binary():
    for shell, path in [("bash", "completions/kubectl-vault_ha.bash"),
                        ("zsh", "completions/_kubectl-vault_ha"),
                        ("fish", "completions/kubectl-vault_ha.fish"),
                        ("kubectl", "completions/kubectl_complete-vault_ha")]:
        with open(os.path.join(ROOT, path)) as f:
            assert f.read() == run_plugin(["completion", shell]).stdout, path
    assert os.access(os.path.join(ROOT, "completions/kubectl_complete-vault_ha"), os.X_OK)
    r = run_plugin(["completion", "tcsh"])
    assert r.returncode == 64
    assert "completion wants one of: bash, zsh, fish, kubectl" in r.stderr


@pytest.mark.parametrize("command", ["status", "version", "peers", "step-down", "bootstrap"])
def test_commands_without_arguments_refuse_them_before_anything_else(command, tmp_path):
    """One declarative flag in the command table; nothing is read or contacted first (the
    kubeconfig named here does not exist)."""
    r = run_plugin([command, "vault-1"], kubeconfig=tmp_path / "missing")
    assert r.returncode == 64
    assert r.stdout == ""
    assert r.stderr == ("kubectl vault-ha: %s takes no arguments (got \"vault-1\")\n"
                        "see 'kubectl vault-ha %s --help'\n" % (command, command))


def test_man_page_lists_every_command():
    page = run_plugin(["__man"]).stdout
    assert page.startswith(".TH KUBECTL\\-VAULT_HA 1")
    for cmd in ["status", "init", "unseal", "join", "bootstrap", "peers", "step\\-down",
                "remove\\-peer", "exec", "completion", "version"]:
        assert '.SS "%s' % cmd in page, cmd
    assert "__complete" not in page
    assert "\\-\\-keys\\-file" in page


def test_make_install_and_uninstall(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=%s" % dest, "PREFIX=/usr"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for p, mode in [("usr/bin/kubectl-vault_ha", 0o755), ("usr/bin/kubectl_complete-vault_ha", 0o755),
                    ("usr/share/man/man1/kubectl-vault_ha.1", 0o644),
                    ("usr/share/bash-completion/completions/kubectl-vault_ha", 0o644),
                    ("usr/share/zsh/site-functions/_kubectl-vault_ha", 0o644),
                    ("usr/share/fish/vendor_completions.d/kubectl-vault_ha.fish", 0o644)]:
        st = os.stat(dest / p)
        assert st.st_mode & 0o777 == mode, p
    r = subprocess.run(["make", "-s", "-C", ROOT, "uninstall", "DESTDIR=%s" % dest, "PREFIX=/usr"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    left = [os.path.join(d, f) for d, _, fs in os.walk(dest) for f in fs]
    assert left == []


# --- krew ---------------------------------------------------------------------------------------

WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {"COM%d" % i for i in range(1, 10)} | \
    {"LPT%d" % i for i in range(1, 10)}
SUPPORTED = {("windows", a) for a in ("386", "amd64", "arm64")} | \
    {("linux", a) for a in ("386", "amd64", "arm", "arm64", "ppc64le")} | \
    {("darwin", a) for a in ("386", "amd64", "arm64")}
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def validate_manifest(path):
    """krew's validation (internal/index/validation/validate.go and
    cmd/validate-krew-manifest), docs/kubernetes.md §5.2. Returns (problems, manifest)."""
    problems = []
    name = os.path.basename(path)
    if not name.endswith(".yaml"):
        problems.append("extension must be .yaml")
    with open(path) as f:
        m = yaml.safe_load(f)
    if m.get("apiVersion") != "krew.googlecontainertools.github.com/v1alpha2":
        problems.append("apiVersion")
    if m.get("kind") != "Plugin":
        problems.append("kind")
    pname = m.get("metadata", {}).get("name", "")
    if not re.match(r"^[\w-]+$", pname) or pname.upper() in WINDOWS_RESERVED:
        problems.append("name")
    if pname != name[:-5]:
        problems.append("metadata.name must equal the file name")
    spec = m.get("spec", {})
    sd = spec.get("shortDescription", "")
    if not sd or "\n" in sd or "\r" in sd:
        problems.append("shortDescription")
    if not SEMVER.match(str(spec.get("version", ""))):
        problems.append("version must be v + semver")
    platforms = spec.get("platforms") or []
    if not platforms:
        problems.append("platforms")
    matched = []
    for p in platforms:
        if not p.get("uri"):
            problems.append("uri")
        if not re.match(r"^[a-f0-9]{64}$", str(p.get("sha256", ""))):
            problems.append("sha256 must be 64 lowercase hex")
        if not p.get("bin"):
            problems.append("bin")
        files = p.get("files")
        if files is not None:
            if files == []:
                problems.append("files: an empty list is an error")
            for fo in files:
                if not fo.get("from") or not fo.get("to"):
                    problems.append("files need from and to")
        sel = p.get("selector")
        if not sel:
            problems.append("selector")
            continue
        labels = sel.get("matchLabels")
        if labels is not None and (labels == {} or set(labels) - {"os", "arch"}):
            problems.append("matchLabels")
        if sel.get("matchExpressions") == []:
            problems.append("matchExpressions")
        labels = labels or {}
        pairs = {pa for pa in SUPPORTED
                 if labels.get("os", pa[0]) == pa[0] and labels.get("arch", pa[1]) == pa[1]}
        if not pairs:
            problems.append("selector matches no supported os/arch")
        for pa in pairs:
            if pa in matched:
                problems.append("two platforms match %s/%s" % pa)
            matched.append(pa)
    return problems, m


def krew_install(archive, manifest, dest):
    """What krew's installer does with an archive: tar.gz sniffed by content, only
    regular files and directories, no '..' or absolute names, modes kept, then
    files from/to moved, bin must exist, a license must exist."""
    with open(archive, "rb") as f:
        assert f.read(2) == b"\x1f\x8b", "krew sniffs gzip"
    work = dest / "extract"
    work.mkdir()
    with tarfile.open(archive) as t:
        for member in t.getmembers():
            assert member.isreg() or member.isdir(), "krew refuses %s" % member.name
            assert ".." not in member.name and not member.name.startswith("/")
        t.extractall(work)
    plat = manifest["spec"]["platforms"][0]
    inst = dest / "install"
    inst.mkdir()
    for fo in plat["files"]:
        src = work / fo["from"]
        assert src.exists(), fo["from"]
        shutil.move(str(src), str(inst / os.path.basename(fo["from"])))
    binary = inst / plat["bin"]
    assert binary.exists(), "source binary cannot be found in extracted archive"
    licenses = {"license", "license.txt", "license.md", "licenses", "licenses.txt",
                "licenses.md", "copying", "copying.txt"}
    assert any(f.lower() in licenses for f in os.listdir(inst)), "no license file"
    return binary


def test_krew_manifest_and_archive(tmp_path):
    r = subprocess.run(["make", "-s", "-C", ROOT, "dist"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    archive = os.path.join(ROOT, "dist", "kubectl-vault_ha-0.1.0-linux-amd64.tar.gz")
    manifest_path = os.path.join(ROOT, "dist", "vault-ha.yaml")
    problems, manifest = validate_manifest(manifest_path)
    assert problems == []
    with open(archive, "rb") as f:
        assert manifest["spec"]["platforms"][0]["sha256"] == hashlib.sha256(f.read()).hexdigest()
    with tarfile.open(archive) as t:
        modes = {m.name: m.mode for m in t.getmembers()}
    assert modes == {"kubectl-vault_ha": 0o755, "LICENSE": 0o644}
    binary = krew_install(archive, manifest, tmp_path)
    r = subprocess.run([str(binary), "version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("kubectl-vault_ha 0.1.0")
    # jansson and libyaml are inside; only widely present libraries are shared.
    ldd = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    assert "libjansson" not in ldd and "libyaml" not in ldd
    # The template itself is not a valid manifest until make dist fills it.
    problems, _ = validate_manifest(os.path.join(ROOT, "krew", "vault-ha.yaml"))
    assert "sha256 must be 64 lowercase hex" in problems


def test_manifest_validator_catches_broken_manifests(tmp_path):
    good = open(os.path.join(ROOT, "krew", "vault-ha.yaml")).read()
    good = good.replace("@VERSION@", "v0.1.0").replace("@URI@", "https://x/a.tar.gz") \
        .replace("@SHA256@", "a" * 64)
    cases = {
        "version must be v + semver": good.replace("v0.1.0", "0.1.0"),
        "sha256 must be 64 lowercase hex": good.replace("a" * 64, "A" * 64),
        "matchLabels": good.replace("arch: amd64", "arch: amd64\n        distro: debian"),
        "files: an empty list is an error": good.replace(
            "    files:\n    - from: kubectl-vault_ha\n      to: .\n    - from: LICENSE\n      to: .\n",
            "    files: []\n"),
    }
    d = tmp_path / "m"
    d.mkdir()
    p = d / "vault-ha.yaml"
    p.write_text(good)
    assert validate_manifest(str(p))[0] == []
    for problem, text in cases.items():
        p.write_text(text)
        assert problem in validate_manifest(str(p))[0], problem
