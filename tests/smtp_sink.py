#!/usr/bin/python3
"""A real SMTP server for the alert tests (Debian's python3-aiosmtpd).

usage: smtp_sink.py PORT DIR [REPLY COUNT]

Listens on 127.0.0.1:PORT and writes every message it accepts to DIR as
<n>.eml (written to a temporary name, then renamed, so a reader never sees
half a file). With REPLY and COUNT, the first COUNT messages are answered
with REPLY instead (e.g. "451 4.3.0 try again later"). Prints "ready" once
listening; exits when its stdin closes.
"""
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, reply, count):
        self.directory = directory
        self.reply = reply
        self.left = count
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        if self.left > 0:
            self.left -= 1
            return self.reply
        self.n += 1
        path = os.path.join(self.directory, "%04d.eml" % self.n)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK"


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    reply = sys.argv[3] if len(sys.argv) > 3 else ""
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    controller = Controller(Sink(directory, reply, count), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
