"""Start localstripe for the local stack: `python localstripe_launcher.py --host H --port P`.

localstripe's own entry point binds every interface (`::`) and persists its state to
`/tmp/localstripe.pickle`, a file shared by every instance on the machine, so two stacks
(a `cargo xtask dev` and a `cargo xtask test`) would see each other's objects. This launcher
serves the same aiohttp app, but:

* binds only the given host (loopback by default) and port;
* keeps all state in memory: fresh at every start, private to this process — unless given
  `--state-file PATH`: then it loads its objects from that file at start (if it exists) and
  writes them back when it is stopped with SIGTERM or SIGINT, so a restart keeps every
  intent, charge and refund, as Stripe's own outages do (`cargo xtask soak` kills and
  restarts it). Registered webhooks and idempotency keys are not kept;
* makes PaymentIntents look like the real API's: it fills in `amount_capturable`,
  `amount_received`, `confirmation_method` and `payment_method_types` (absent in
  localstripe) and returns `latest_charge` as an id unless it was expanded, as Stripe does;
* gives events `pending_webhooks` (absent in localstripe), as Stripe does;
* honours `Idempotency-Key` on POSTs as Stripe does (localstripe ignores it): the same key
  with the same request replays the first answer (header `Idempotent-Replayed: true`), with
  other parameters it is a 400 `idempotency_error`, and while the first is in flight a 409;
* refuses to refund a charge that is already fully refunded with Stripe's 400
  `charge_already_refunded` (localstripe refunds it again), and refunding an unpaid
  PaymentIntent with a 400 (localstripe fails with a 500);
* declines, retries and 3-D Secure as Stripe does (see `_stripejs.py`): Stripe's declining
  test cards are declined when charged (`4000 0000 0000 0002` too, which localstripe declines
  only when attached to a customer), with Stripe's error (402 `card_error`, `code`,
  `decline_code`, message, `payment_intent`); the intent is then `requires_payment_method`
  with `last_payment_error` and `payment_method` null, and can be paid with another card
  (localstripe refuses every later confirm); a failed 3-D Secure challenge sends
  `payment_intent.payment_failed` (`payment_intent_authentication_failure`), as Stripe does;
* serves its own Stripe.js at `/js.stripe.com/v3/` (`stripe_js_v3.js`) in place of
  localstripe's, which ignores the card typed in the page. A page written for the real
  Stripe.js works unchanged with it: `Stripe(pk)`, `elements().create('card', {style})`,
  `card.mount()`, `card.on('change')`, `stripe.confirmCardPayment(clientSecret,
  {payment_method: {card, billing_details}})`, `stripe.retrievePaymentIntent()`. The card is
  plain labelled inputs in the page; a 3-D Secure card opens a modal dialog ("Complete
  authentication" / "Fail authentication"). It needs no inline script, eval or <style>.
  Test cards: `4242 4242 4242 4242` pays; `4000 0000 0000 0002` is declined
  (`card_declined`), `…9995` insufficient funds, `…0069` expired, `…0127` wrong CVC;
  `4000 0027 6000 3184` asks for 3-D Secure; `4000 0082 6000 3178` asks for it, then is
  declined. Any expiry in the future, any 3-digit CVC; 16-digit numbers only (no Amex);
* answers what Stripe.js sends, authenticated as Stripe.js is, by the publishable key
  (`key=pk_…`, any pk_ key) and the intent's `client_secret`, as "simple" CORS requests
  (localstripe has no OPTIONS route, so anything needing a preflight gets a 401):
  `POST /v1/payment_intents/{id}/confirm` with `payment_method_data[card][number]`… (creates
  the card's PaymentMethod, sets it on the intent and confirms; localstripe's own confirm
  answers a `payment_method` with a 500), `POST /v1/payment_intents/{id}/_authenticate` with
  `success=true|false` (the 3-D Secure outcome) and `GET /v1/payment_intents/{id}`. A request
  with an `Authorization` header is localstripe's as before;
* gives refunds a life as on Stripe (see `_refunds.py`): Stripe's refund test cards
  `pm_card_pendingRefund` (4000 0000 0000 7726: refunded `pending`, then `succeeded`) and
  `pm_card_refundFail` (4000 0000 0000 5126: refunded `succeeded`, then `failed`), each change
  `--refund-settle-seconds` later (default 3) with its `refund.updated`,
  `charge.refund.updated` (and `refund.failed`) webhooks; and faults scoped to one
  PaymentIntent for tests: `POST /_config/refund_errors` (refuse its next refunds with a
  Stripe error code) and `POST /_config/delays` (answer requests naming it late);
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

from _refunds import install as install_refunds  # noqa: E402
from _stripejs import install as install_stripejs  # noqa: E402
from _watchdog import exit_with_parent  # noqa: E402


def keep_state_in_memory(resources):
    resources.Store.try_load_from_disk = lambda self: None
    resources.Store.dump_to_disk = lambda self: None


def load_state(resources, path):
    """The objects a previous run saved to `path`, if any."""
    import pickle

    try:
        with open(path, "rb") as f:
            saved = pickle.load(f)
    except FileNotFoundError:
        return
    dict.update(resources.store, saved)
    print(f"localstripe: loaded {len(saved)} objects from {path}", flush=True)


def save_state(resources, path):
    """Written whole, then renamed, so that a reader never sees half a file."""
    import pickle

    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(dict(resources.store), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    print(f"localstripe: saved {len(resources.store)} objects to {path}", flush=True)


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


def honour_idempotency_keys(app):
    from aiohttp import web

    # (API key, Idempotency-Key) -> None while in flight, then (method, path, body, answer).
    # Stripe keeps keys 24 h; this process lives shorter than that.
    seen = {}

    def idempotency_error(status, message):
        body = {"error": {"type": "idempotency_error", "message": message}}
        return web.json_response(body, status=status)

    @web.middleware
    async def idempotency(request, handler):
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key or request.path.startswith("/_config/"):
            return await handler(request)
        body = await request.read()  # cached by aiohttp: the handler reads it again
        scope = (request.headers.get("Authorization", ""), key)
        if scope in seen:
            first = seen[scope]
            if first is None:
                return idempotency_error(409, "There is currently another in-progress request using this Idempotent Key.")
            method, path, sent, (status, answer, content_type) = first
            if (method, path, sent) != (request.method, request.path, body):
                return idempotency_error(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                )
            return web.Response(
                status=status, body=answer, content_type=content_type, headers={"Idempotent-Replayed": "true"}
            )
        seen[scope] = None
        try:
            response = await handler(request)
        except BaseException:
            del seen[scope]
            raise
        if response.status >= 500 or not isinstance(response, web.Response):
            # Stripe does not keep answers to requests that failed on its side.
            del seen[scope]
        else:
            seen[scope] = (request.method, request.path, body, (response.status, response.body, response.content_type))
        return response

    # Outermost, so that it sees the error answers the other middlewares make of exceptions.
    app.middlewares.insert(0, idempotency)


def refunds_like_stripe(resources):
    from localstripe.errors import UserError

    original = resources.Refund.__init__

    def __init__(self, charge=None, payment_intent=None, amount=None, **kwargs):
        target = charge
        if charge is None and isinstance(payment_intent, str) and payment_intent.startswith("pi_"):
            intent = resources.PaymentIntent._api_retrieve(payment_intent)  # 404 if unknown
            if intent.latest_charge is None:
                raise UserError(400, "This PaymentIntent does not have a successful charge to refund.")
            target = intent.latest_charge.id
        if isinstance(target, str):
            charge_obj = resources.store.get("charge:" + target)
            if charge_obj is not None and charge_obj.status == "succeeded" and charge_obj.refunded:
                raise UserError(
                    400,
                    "Charge %s has already been refunded." % target,
                    {"code": "charge_already_refunded", "charge": target},
                )
        original(self, charge=charge, payment_intent=payment_intent, amount=amount, **kwargs)

    resources.Refund.__init__ = __init__


def main():
    parser = argparse.ArgumentParser(description="localstripe on one address, state in memory")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument(
        "--refund-settle-seconds",
        type=float,
        default=3.0,
        help="how long a test card's refund stays as first reported before it settles",
    )
    parser.add_argument("--state-file", help="load objects from it at start, save them to it at SIGTERM")
    args = parser.parse_args()

    exit_with_parent()

    from aiohttp import web
    from localstripe import resources, server

    keep_state_in_memory(resources)
    if args.state_file:
        load_state(resources, args.state_file)
    make_payment_intents_stripe_shaped(resources)
    refunds_like_stripe(resources)
    install_refunds(resources, server, args.refund_settle_seconds)
    install_stripejs(resources, server)
    honour_idempotency_keys(server.app)

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

    where = f"state in {args.state_file} at stop" if args.state_file else "state in memory"
    print(f"localstripe: serving on http://{args.host}:{args.port}/ ({where})", flush=True)
    # A short grace for requests in flight at SIGTERM: a stop is an outage, not a drain.
    web.run_app(server.app, sock=sock, access_log=logger, print=None, shutdown_timeout=1)
    if args.state_file:
        save_state(resources, args.state_file)


if __name__ == "__main__":
    main()
