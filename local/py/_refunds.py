"""Refunds as Stripe makes them, for `localstripe_launcher.py`: the project's own code.

localstripe makes every refund `succeeded` at once and never changes it again. On Stripe a
refund has a life of its own, and the order code follows it (`shared::orders::refund`).
`install(resources, server, settle_seconds)`, before the app starts, adds:

* Stripe's refund test cards (https://docs.stripe.com/testing#refunds), as payment methods
  `pm_card_pendingRefund` (4000 0000 0000 7726) and `pm_card_refundFail`
  (4000 0000 0000 5126), and as card numbers typed in the page:
  - a payment made with 7726 is refunded `pending`, and the refund becomes `succeeded`
    `settle_seconds` later;
  - a payment made with 5126 is refunded `succeeded`, and the refund becomes `failed`
    (`failure_reason` `expired_or_canceled_card`) `settle_seconds` later.
  Each change sends `refund.updated` and `charge.refund.updated` (and `refund.failed` for a
  failure) to the registered webhooks, as Stripe does. A refund that failed no longer counts
  against the charge's refundable amount (a new refund may be made).
* Refunds carry `payment_intent` and `failure_reason`, as Stripe's do.
* Faults a test asks for, each scoped to one PaymentIntent, so that tests running side by
  side against one localstripe do not see each other's:
  - `POST /_config/refund_errors` with form fields `payment_intent`, `code` (default
    `balance_insufficient`) and `times` (default 1): the next `times` refund requests for
    that intent are refused with Stripe's 400 `invalid_request_error` and that code. The
    launcher's idempotency layer keeps that answer under the request's `Idempotency-Key`,
    as Stripe does (24 hours there): only a new key can get another answer.
  - `POST /_config/delays` with `payment_intent` and `seconds`: every API request that names
    that intent (in its path, or in its form body: a refund of it) is answered `seconds`
    later — a slow Stripe for that intent only. `seconds=0` ends it.
"""

import asyncio
import logging

PENDING_REFUND = "4000000000007726"
REFUND_FAIL = "4000000000005126"

TEST_PAYMENT_METHODS = {
    "pm_card_pendingRefund": PENDING_REFUND,
    "pm_card_refundFail": REFUND_FAIL,
}

log = logging.getLogger("aiohttp.access")


def install(resources, server, settle_seconds):
    refund_errors = {}
    delays = {}
    _test_payment_methods(resources)
    _refunds_with_a_life(resources, refund_errors, settle_seconds)
    _config_routes(server.app, refund_errors, delays)
    _slow_intents(server.app, delays)


def _test_payment_methods(resources):
    PaymentMethod = resources.PaymentMethod
    canonical = PaymentMethod._try_get_canonical_test_article.__func__

    @classmethod
    def _try_get_canonical_test_article(cls, id):
        number = TEST_PAYMENT_METHODS.get(id)
        if number is not None:
            return PaymentMethod(type="card", card=dict(number=number, exp_month="12", exp_year="2030", cvc="123"))
        return canonical(cls, id)

    PaymentMethod._try_get_canonical_test_article = _try_get_canonical_test_article


def _card_number(resources, charge):
    pm = resources.store.get("payment_method:" + str(charge.payment_method)) or resources.store.get(
        "card:" + str(charge.payment_method)
    )
    return getattr(pm, "_card_number", None)


def _refunds_with_a_life(resources, refund_errors, settle_seconds):
    from localstripe.errors import UserError
    from localstripe.webhooks import schedule_webhook

    Refund, Charge, Event = resources.Refund, resources.Charge, resources.Event
    create = Refund.__init__

    def __init__(self, charge=None, payment_intent=None, amount=None, **kwargs):
        fault = refund_errors.get(payment_intent) if isinstance(payment_intent, str) else None
        if fault is not None and fault["times"] > 0:
            fault["times"] -= 1
            raise UserError(400, fault["message"], {"code": fault["code"]})
        create(self, charge=charge, payment_intent=payment_intent, amount=amount, **kwargs)
        self.failure_reason = None
        charge_obj = resources.store.get("charge:" + str(self.charge))
        if self.payment_intent is None and charge_obj is not None:
            self.payment_intent = charge_obj.payment_intent
        number = _card_number(resources, charge_obj) if charge_obj is not None else None
        if number == PENDING_REFUND:
            self.status = "pending"
            _later(settle_seconds, lambda: settle(self, "succeeded", None))
        elif number == REFUND_FAIL:
            _later(settle_seconds, lambda: settle(self, "failed", "expired_or_canceled_card"))

    def settle(refund, status, failure_reason):
        refund.status = status
        refund.failure_reason = failure_reason
        log.info("refund %s is %s now", refund.id, status)
        kinds = ["refund.updated", "charge.refund.updated"] + (["refund.failed"] if status == "failed" else [])
        for kind in kinds:
            schedule_webhook(Event(kind, refund))

    Refund.__init__ = __init__

    # A failed or cancelled refund gives its amount back to the charge, as on Stripe.
    def amount_refunded(self):
        return sum(r.amount for r in self.refunds._list if getattr(r, "status", None) not in ("failed", "canceled"))

    Charge.amount_refunded = property(amount_refunded)


def _later(seconds, action):
    async def run():
        await asyncio.sleep(seconds)
        action()

    asyncio.ensure_future(run())


def _config_routes(app, refund_errors, delays):
    from aiohttp import web

    async def form(request):
        data = await request.post()
        intent = data.get("payment_intent", "")
        if not intent.startswith("pi_"):
            raise web.HTTPBadRequest(text="payment_intent=pi_… is required")
        return intent, data

    async def config_refund_errors(request):
        intent, data = await form(request)
        code = data.get("code", "balance_insufficient")
        times = int(data.get("times", "1"))
        message = "The refund could not be made (%s)." % code
        refund_errors[intent] = {"code": code, "times": times, "message": message}
        return web.json_response({"payment_intent": intent, "code": code, "times": times})

    async def config_delays(request):
        intent, data = await form(request)
        seconds = float(data.get("seconds", "0"))
        if seconds > 0:
            delays[intent] = seconds
        else:
            delays.pop(intent, None)
        return web.json_response({"payment_intent": intent, "seconds": seconds})

    app.router.add_post("/_config/refund_errors", config_refund_errors)
    app.router.add_post("/_config/delays", config_delays)


def _slow_intents(app, delays):
    from aiohttp import web

    @web.middleware
    async def slow(request, handler):
        if delays and not request.path.startswith("/_config/"):
            text = request.path
            if request.method == "POST" and request.can_read_body:
                text += (await request.read()).decode("utf-8", "replace")
            seconds = max((s for intent, s in delays.items() if intent in text), default=0)
            if seconds:
                await asyncio.sleep(seconds)
        return await handler(request)

    # Outermost: a slow Stripe is slow before it does anything.
    app.middlewares.insert(0, slow)
