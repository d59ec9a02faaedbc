"""A fake that forks fakes: it imports the server once (aiohttp, asyncio, the simulator: about
0.3 s of CPU), then forks a child per request that runs fakekube.main.main() as the
`fakecluster` script would. The test harness starts one per test process (harness.py); a
fake started so is the same program as one started by `fakecluster`, minus the imports.

Protocol on stdin/stdout, one JSON line each way:
    -> {"argv": [...], "log": "/path/server.log", "env": {...}, "cwd": "/path"}
    <- {"pid": 1234}
The zygote reaps its children itself; it ends when its stdin closes (the test process ended).
"""
import json
import os
import random
import signal
import sys


def _child(req):
    os.setsid()  # its own process group, as start_new_session gave it
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # asyncio waits for its own subprocesses
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
    random.seed()  # not the zygote's sequence: each fake its own elections
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


def serve():
    sys.dont_write_bytecode = False
    import fakekube.main  # noqa: F401 - the point: imported once, before any fork
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                _child(req)
            finally:
                os._exit(1)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
