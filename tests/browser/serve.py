#!/usr/bin/python3
"""serve.py: the static server of the browser tests (tests/bats/30-browser.bats,
35-web-example.bats).

Serves the example page, sdk/examples/web, on 127.0.0.1 (a free port
unless one is given) and prints "serving on http://127.0.0.1:PORT".
Besides the files, two URLs let the page hold Chromium's --dump-dom until
it is done with real network traffic: headless Chromium dumps the DOM once
the document has loaded and the --virtual-time-budget is spent, and a
WebSocket's messages keep neither from happening. So the page, in its
scripted mode (?expect=), has an image GET /hold?KEY, which this server
answers only once the page calls GET /done?KEY (or after --hold-max
seconds): the document is still loading until the chat is over. KEY is
the page's own random one, so pages loaded one after the other, and a
/done that arrives before its /hold, each work. A fetch() held the same way did not do: while it was in
flight, Chromium sometimes sent nothing on the WebSocket until it ended.
Only the Python standard library is used.

Usage: serve.py [--port N] [--hold-max SECONDS]
"""
import functools
import http.server
import os
import sys
import threading
import time

WEB_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "..", "..", "sdk", "examples", "web"))
done = set()  # the KEYs of /done?KEY
done_cv = threading.Condition()
hold_max = 20.0


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        path, _, key = self.path.partition("?")
        if path == "/hold":
            with done_cv:
                done_cv.wait_for(lambda: key in done, hold_max)
            self.reply(b"released\n")
        elif path == "/done":
            with done_cv:
                done.add(key)
                done_cv.notify_all()
            self.reply(b"done\n")
        else:
            super().do_GET()

    def reply(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("serve.py %.3f: %s\n" % (time.time(), fmt % args))


def main(argv):
    global hold_max
    port = 0
    it = iter(argv)
    for a in it:
        if a == "--port":
            port = int(next(it))
        elif a == "--hold-max":
            hold_max = float(next(it))
        else:
            sys.stderr.write(__doc__)
            return 2
    handler = functools.partial(Handler, directory=WEB_DIR)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    print("serving on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
