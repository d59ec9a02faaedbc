"""The hidden prompt, driven through a real terminal (tmux): keys are never on
screen, and after Ctrl-C the terminal echoes again (docs/design.md §5, the security model)."""
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
    sessions = 0

    def __init__(self, tmp_path, command):
        # One socket per session: a second session on the socket of one just killed can reach
        # the dying server ("server exited unexpectedly").
        Tmux.sessions += 1
        self.sock = str(tmp_path / ("tmux%d.sock" % Tmux.sessions))
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

    def visible(self):
        """The screen as it is now, without the scrollback."""
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p"],
                              capture_output=True, text=True).stdout

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
            t.wait_for("Unseal key %d of 3 (empty line: submit the keys given so far):" % (i + 1))
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


def test_key_holder_submits_one_key_with_an_empty_line(fake, tmp_path):
    """A key holder with one share: an empty line after it submits what was typed."""
    keys = sealed_cluster(fake, tmp_path)
    t = Tmux(tmp_path, command_line(fake, ["unseal"]) + "; echo EXIT=$?; sleep 60")
    try:
        t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):")
        t.send("-l", keys["unseal_keys_b64"][3])
        t.send("Enter")
        t.wait_for("Unseal key 2 of 3 (empty line: submit the keys given so far):")
        t.send("Enter")
        screen = t.wait_for("EXIT=", timeout=60)
        assert "EXIT=0" in screen, screen
        assert "vault-1: 1/3, 2 more keys needed (from another key holder)" in screen
        assert "Keys accepted. Next key holder: `kubectl vault-ha unseal`" in screen
        assert keys["unseal_keys_b64"][3] not in screen
        assert keys["unseal_keys_b64"][3][:12] not in screen
    finally:
        t.close()
    r = run_plugin(["status", "-o", "json"], kubeconfig=fake.kubeconfig)
    pods = {p["name"]: p["vault"] for p in json.loads(r.stdout)["pods"]}
    assert pods["vault-1"]["sealed"] and pods["vault-1"]["progress"] == 1


def test_ctrl_c_at_prompt_restores_terminal(fake, tmp_path):
    sealed_cluster(fake, tmp_path)
    # The shell traps SIGINT (a handler, not ignore: the plugin gets the default) so that it
    # survives the Ctrl-C sent to the whole foreground process group.
    t = Tmux(tmp_path, "trap : INT; " + command_line(fake, ["unseal"]) +
             "; echo EXIT=$?; stty -a; sleep 60")
    try:
        t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):")
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


def stty_flags(screen):
    """The flags of the last `stty -a` on the screen (after its "speed" line)."""
    return screen[screen.rindex("speed"):].split()


def assert_terminal_sane(screen):
    flags = stty_flags(screen)
    assert "echo" in flags and "-echo" not in flags, screen
    assert "icanon" in flags and "-icanon" not in flags, screen


def test_ctrl_backslash_at_prompt_dumps_nothing(fake, tmp_path):
    """Ctrl-\\ while the first key is half typed: no core file (core dumps are off for the
    whole process from its start), and the terminal echoes again."""
    sealed_cluster(fake, tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    # core_pattern may name a file in the working directory: allow cores, trap QUIT in the
    # shell so that it survives the Ctrl-\ sent to the foreground process group.
    t = Tmux(tmp_path, "cd %s && ulimit -c unlimited; trap : QUIT; " % shlex.quote(str(work)) +
             command_line(fake, ["unseal"]) + "; echo EXIT=$?; stty -a; sleep 60")
    try:
        t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):")
        t.send("-l", "half-typed")
        t.send("C-\\")
        screen = t.wait_for("EXIT=")
        assert "EXIT=131" in screen, screen  # ended by SIGQUIT, after restoring the terminal
        assert "half-typed" not in screen
        assert_terminal_sane(t.wait_for("speed"))
        assert sorted(p.name for p in work.iterdir()) == []
    finally:
        t.close()


def test_sigterm_at_prompt_restores_terminal(fake, tmp_path):
    sealed_cluster(fake, tmp_path)
    t = Tmux(tmp_path, "sh -c %s; echo EXIT=$?; stty -a; sleep 60" %
             shlex.quote("echo PID=$$; exec " + command_line(fake, ["unseal"])))
    try:
        screen = t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):")
        pid = int(screen.split("PID=")[1].split()[0])
        t.send("-l", "half-typed")
        time.sleep(0.5)
        os.kill(pid, 15)
        screen = t.wait_for("EXIT=")
        assert "EXIT=143" in screen, screen
        assert "half-typed" not in screen
        assert_terminal_sane(t.wait_for("speed"))
    finally:
        t.close()


@pytest.mark.skipif(shutil.which("bash") is None, reason="job control through bash")
def test_ctrl_z_restores_terminal_and_fg_hides_input_again(fake, tmp_path):
    keys = sealed_cluster(fake, tmp_path)
    # bash -c with set -m: the plugin runs as a job that Ctrl-Z stops and fg continues.
    script = ("set -m; %s; echo STOPPED=$?; stty -a; echo STTY-END; fg; echo EXIT=$?; sleep 60"
              % command_line(fake, ["unseal"]))
    t = Tmux(tmp_path, "bash -c %s" % shlex.quote(script))
    try:
        t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):")
        t.send("-l", "typed-before-stop")
        t.send("C-z")
        screen = t.wait_for("STTY-END")
        assert "STOPPED=148" in screen, screen
        assert_terminal_sane(screen[:screen.index("STTY-END")])
        # fg: input is hidden again and the prompt shown again; the half-typed key was
        # dropped with the terminal state, so the three keys are typed from the start.
        deadline = time.time() + 30
        while t.screen().count("Unseal key 1 of 3 (empty line: submit the keys given so far):") < 2:
            assert time.time() < deadline, t.screen()
            time.sleep(0.1)
        for i in range(3):
            if i > 0:
                t.wait_for("Unseal key %d of 3 (empty line: submit the keys given so far):" % (i + 1))
            t.send("-l", keys["unseal_keys_b64"][i])
            t.send("Enter")
        screen = t.wait_for("EXIT=", timeout=60)
        assert "EXIT=0" in screen, screen
        assert "typed-before-stop" not in screen
        for k in keys["unseal_keys_b64"]:
            assert k[:12] not in screen
    finally:
        t.close()


def test_tab_and_inputrc_do_nothing_at_prompt(fake, tmp_path):
    """Tab does not complete file names into the key, and ~/.inputrc bindings (here a
    macro) do not apply to the hidden prompt: the lengths in the messages tell."""
    sealed_cluster(fake, tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".inputrc").write_text('"z": "ZZZZZZZZZZZZZZZZ"\n')
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "uniquefilename123").write_text("")
    line = command_line(fake, ["unseal"]).replace("HOME=/nonexistent",
                                                  "HOME=%s" % shlex.quote(str(home)))
    t = Tmux(tmp_path, "trap : INT; cd %s && %s; echo EXIT=$?; sleep 60" %
             (shlex.quote(str(work)), line))
    try:
        t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):")
        t.send("-l", "uniq")
        t.send("Tab")
        t.send("Enter")
        # "uniq" is base64 of 3 bytes; completed, it would be 17 characters, not base64.
        screen = t.wait_for("Unseal key 1 of 3 (empty line: submit the keys given so far):\nunseal key")
        assert "unseal key too short: 3 bytes" in screen, screen
        assert "17 characters given" not in screen, screen
        t.send("-l", "zz")
        t.send("Enter")
        # Typed as is: 2 characters; the macro would have made 16 (12 bytes of base64).
        screen = t.wait_for("characters given")
        assert "2 characters given" in screen, screen
        assert "12 bytes" not in screen, screen
        t.send("C-c")
        screen = t.wait_for("EXIT=")
        assert "EXIT=130" in screen, screen
        assert "uniquefilename123" not in screen
    finally:
        t.close()


def test_exec_output_on_a_terminal_is_escaped(fake, tmp_path):
    """exec's stdout on a terminal is text for the user: a pod's escape sequences (a window
    title, colours, a clipboard write) are shown, not obeyed. Into a pipe it stays byte-exact
    (test_hardening.py)."""
    t = Tmux(tmp_path, command_line(fake, ["exec", "--", "printf",
                                           "\\033]0;TITLE\\007\\033[31mRED\\033]52;c;ZXZpbA==\\007\\n"])
             + "; echo EXIT=$?; sleep 60")
    try:
        screen = t.wait_for("EXIT=")
        assert "EXIT=0" in screen, screen
        assert "\\x1b]0;TITLE\\x07\\x1b[31mRED\\x1b]52;c;ZXZpbA==\\x07" in screen, screen
    finally:
        t.close()
