"""Start localstripe for the local stack: `python localstripe_launcher.py --host H --port P`.

localstripe's own entry point binds every interface (`::`) and persists its state to
`/tmp/localstripe.pickle`, a file shared by every instance on the machine, so two stacks
(a `cargo xtask dev` and a `cargo xtask test`) would see each other's objects. This launcher
serves the same aiohttp app, but:

* binds only the given host (loopback by default) and port;
* keeps all state in memory: fresh at every start, private to this process;
* makes PaymentIntents look like the real API's: it fills in `amount_capturable`,
  `amount_received`, `confirmation_method` and `payment_method_types` (absent in
  localstripe) and returns `latest_charge` as an id unless it was expanded, as Stripe does;
* gives events `pending_webhooks` (absent in localstripe), as Stripe does;
* exits when its parent process is gone.

Webhooks are registered as with localstripe itself: `POST /_config/webhooks/{id}` with form
fields `url`, `secret` and `events[]`; `DELETE /_config/data` wipes the state.
"""

import argparse
import logging
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _watchdog import exit_with_parent  # noqa: E402


def keep_state_in_memory(resources):
    resources.Store.try_load_from_disk = lambda self: None
    resources.Store.dump_to_disk = lambda self: None


def _expanded(expand, field):
    return any(p == field or p.startswith(field + ".") for p in (expand or []))


def make_payment_intents_stripe_shaped(resources):
    original = resources.PaymentIntent._export

    def _export(self, expand=None):
        obj = original(self, expand=expand)
        status = obj.get("status")
        amount = obj.get("amount") or 0
        obj.setdefault("amount_capturable", amount if status == "requires_capture" else 0)
        obj.setdefault("amount_received", amount if status == "succeeded" else 0)
        obj.setdefault("confirmation_method", "automatic")
        obj.setdefault("payment_method_types", ["card"])
        charge = obj.get("latest_charge")
        if isinstance(charge, dict) and not _expanded(expand, "latest_charge"):
            obj["latest_charge"] = charge.get("id")
        return obj

    resources.PaymentIntent._export = _export

    original_event = resources.Event._export

    def _export_event(self, expand=None):
        obj = original_event(self, expand=expand)
        obj.setdefault("pending_webhooks", 0)
        return obj

    resources.Event._export = _export_event


def main():
    parser = argparse.ArgumentParser(description="localstripe on one address, state in memory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    args = parser.parse_args()

    exit_with_parent()

    from aiohttp import web
    from localstripe import resources, server

    keep_state_in_memory(resources)
    make_payment_intents_stripe_shaped(resources)

    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as e:
        sys.exit(f"localstripe: cannot bind {args.host}:{args.port}: {e}")

    logger = logging.getLogger("aiohttp.access")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(logging.StreamHandler())

    print(f"localstripe: serving on http://{args.host}:{args.port}/ (state in memory)", flush=True)
    web.run_app(server.app, sock=sock, access_log=logger, print=None)


if __name__ == "__main__":
    main()
