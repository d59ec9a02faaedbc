"""A fake that forks fakes: it imports the server once (aiohttp, asyncio, the simulator: about
0.3 s of CPU), then forks a child per request that runs fakekube.main.main() as the
`fakecluster` script would. The test harness starts one per test process (harness.py); a
fake started so is the same program as one started by `fakecluster`, minus the imports.

Protocol on stdin/stdout, one JSON line each way:
    -> {"op": "start", "argv": [...], "log": "/path/server.log", "env": {...}, "cwd": "/path"}
    <- {"pid": 1234}
    -> {"op": "poll", "pid": 1234}
    <- {"returncode": null}          (running; else its exit code, negative for a signal)
A child stays a zombie until a poll finds it ended, so its pid cannot be reused by another
process while the harness may still signal it. The zygote ends when its stdin closes (the
test process ended); the children left are then reaped by init.
"""
import json
import os
import sys


def _child(req):
    os.setsid()  # its own process group, as start_new_session gave it
    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    from fakekube.main import main
    code = 0
    try:
        main(req["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _poll(pid, ended):
    if pid not in ended:
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            got, status = pid, None
        if got == pid:
            ended[pid] = os.waitstatus_to_exitcode(status) if status is not None else -1
    return ended.get(pid)


def serve():
    sys.dont_write_bytecode = False
    import fakekube.main  # noqa: F401 - the point: imported once, before any fork
    out = sys.stdout
    ended = {}
    for line in sys.stdin:
        req = json.loads(line)
        if req.get("op") == "poll":
            reply = {"returncode": _poll(int(req["pid"]), ended)}
        else:
            pid = os.fork()
            if pid == 0:
                try:
                    _child(req)
                finally:
                    os._exit(1)
            reply = {"pid": pid}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
