# Drives `wildrydes-query --archive DIR` in a pseudo-terminal (the prompt of
# `wildrydes query` without SQL), as a user at a terminal would, and prints
# what the terminal showed and the exit status as JSON. argv: BIN DIR
import json, os, pty, select, sys, time

binary, archive = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "--archive", archive])

screen = b""
# Where the next marker is looked for: each one must appear after the last.
seen = 0


def until(marker, seconds=60):
    global screen, seen
    deadline = time.monotonic() + seconds
    while marker.encode() not in screen[seen:]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise SystemExit(json.dumps({"timeout": marker, "screen": screen.decode("utf-8", "replace")}))
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                raise SystemExit(json.dumps({"closed_before": marker, "screen": screen.decode("utf-8", "replace")}))
            screen += chunk
    seen = screen.index(marker.encode(), seen) + len(marker.encode())


def type_line(line):
    os.write(fd, line.encode() + b"\r")


until("wildrydes> ")
type_line("SELECT name, COUNT(*) AS n")
until("      -> ")
type_line("FROM wildrydes GROUP BY name ORDER BY name;")
until("Shadowfax")
until("wildrydes> ")
type_line("SELEC oops;")
until("error:")
until("wildrydes> ")
type_line("\\q")
deadline = time.monotonic() + 30
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        raise SystemExit(json.dumps({"timeout": "exit", "screen": screen.decode("utf-8", "replace")}))
    try:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            screen += os.read(fd, 65536)
    except OSError:
        pass
print(json.dumps({"screen": screen.decode("utf-8", "replace"), "code": os.waitstatus_to_exitcode(status)}))
