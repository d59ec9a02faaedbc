"""The hidden prompt, driven through a real terminal (tmux): keys are never on
screen, and after Ctrl-C the terminal echoes again (DESIGN.md security model)."""
import json
import os
import shlex
import shutil
import subprocess
import time

import pytest

from conftest import BIN, run_plugin

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is installed by make deps")


class Tmux:
    def __init__(self, tmp_path, command):
        self.sock = str(tmp_path / "tmux.sock")
        subprocess.run(["tmux", "-S", self.sock, "new-session", "-d", "-x", "200", "-y", "50",
                        "sh", "-c", command], check=True)

    def screen(self):
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p", "-S", "-200"],
                              capture_output=True, text=True).stdout

    def wait_for(self, text, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.1)
        raise AssertionError("%r never appeared; screen:\n%s" % (text, self.screen()))

    def send(self, *keys):
        subprocess.run(["tmux", "-S", self.sock, "send-keys"] + list(keys), check=True)

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], capture_output=True)


def sealed_cluster(fake, tmp_path):
    keys_file = tmp_path / "keys.json"
    r = run_plugin(["bootstrap", "--output", str(keys_file)], kubeconfig=fake.kubeconfig,
                   timeout=180)
    assert r.returncode == 0, r.stderr
    keys = json.loads(keys_file.read_text())
    r = fake.kubectl("delete", "pod", "vault-1", "-n", "vault")
    assert r.returncode == 0, r.stderr
    return keys


def command_line(fake, args):
    env = "env -u NO_COLOR HOME=/nonexistent KUBECONFIG=%s" % shlex.quote(str(fake.kubeconfig))
    return "%s %s %s" % (env, shlex.quote(BIN), " ".join(shlex.quote(a) for a in args))


def test_prompt_hides_keys_and_unseals(fake, tmp_path):
    keys = sealed_cluster(fake, tmp_path)
    t = Tmux(tmp_path, command_line(fake, ["unseal"]) + "; echo EXIT=$?; sleep 60")
    try:
        for i in range(3):
            t.wait_for("Unseal key %d of 3 (will be hidden):" % (i + 1))
            t.send("-l", keys["unseal_keys_b64"][i])
            t.send("Enter")
        screen = t.wait_for("EXIT=", timeout=60)
        assert "EXIT=0" in screen, screen
        assert "vault-1: unsealed" in screen
        for k in keys["unseal_keys_b64"] + keys["unseal_keys_hex"]:
            assert k not in screen
            assert k[:12] not in screen
    finally:
        t.close()


def test_ctrl_c_at_prompt_restores_terminal(fake, tmp_path):
    sealed_cluster(fake, tmp_path)
    # The shell traps SIGINT (a handler, not ignore: the plugin gets the default) so that it
    # survives the Ctrl-C sent to the whole foreground process group.
    t = Tmux(tmp_path, "trap : INT; " + command_line(fake, ["unseal"]) +
             "; echo EXIT=$?; stty -a; sleep 60")
    try:
        t.wait_for("Unseal key 1 of 3 (will be hidden):")
        t.send("-l", "half-typed")
        t.send("C-c")
        screen = t.wait_for("EXIT=")
        assert "EXIT=130" in screen, screen
        assert "interrupted" in screen
        assert "half-typed" not in screen
        stty = t.wait_for("speed")
        flags = stty.split()
        assert "echo" in flags and "-echo" not in flags, stty
        assert "icanon" in flags and "-icanon" not in flags, stty
    finally:
        t.close()
