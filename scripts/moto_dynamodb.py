"""Serve moto's DynamoDB on 127.0.0.1, one request at a time.

`moto_server` always runs threaded, and a threaded moto can lose concurrent `ADD` updates to
one item. Serving moto's WSGI app from werkzeug with `threaded=False` applies every request in
arrival order, which is what DynamoDB's per-item atomicity promises.

Usage: moto_dynamodb.py [--port N] [--port-file PATH]
Port 0 (the default) picks a free port; the chosen endpoint is printed on stdout as
`endpoint=http://127.0.0.1:PORT` and written to --port-file when given.
"""

import argparse
import os
import signal
import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class QuietHandler(MotoRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(
        "127.0.0.1", args.port, app, threaded=False, request_handler=QuietHandler
    )
    endpoint = f"http://127.0.0.1:{server.server_port}"
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(endpoint + "\n")
        os.replace(tmp, args.port_file)
    print(f"endpoint={endpoint}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
