"""Card payments as Stripe makes them, for `localstripe_launcher.py`: the project's own code.

Two parts, both installed by `install(resources, server)` before the app starts:

* Patches to localstripe's payment objects so that a card payment fails and retries as on
  Stripe (`like_stripe`):
  - Stripe's declining test cards are declined when charged, with Stripe's `code`,
    `decline_code` and message (`DECLINES`). localstripe declines `4000 0000 0000 0002`
    only when it is attached to a customer, and says `card_declined` for every card.
  - After a decline the intent is payable again, as on Stripe: its `payment_method` is
    cleared (kept in `last_payment_error.payment_method`), status `requires_payment_method`;
    once a new payment method is set it is `requires_confirmation` and can be confirmed.
    localstripe keeps the failed charge as the latest one, and then refuses every confirm.
  - A decline answers Stripe's error shape (402, `type` `card_error`, `decline_code`,
    `payment_intent`, `payment_method`, `doc_url`), on the server-side confirm too.
  - `last_payment_error` has Stripe's `type`, `decline_code`, `doc_url` and
    `payment_method`.

* Routes for the browser (`browser_routes`), authenticated as Stripe.js is: by the
  publishable key (`key=pk_…`) and the intent's `client_secret`, in the query or a
  form-urlencoded body, so that a page needs only "simple" CORS requests (localstripe has no
  OPTIONS route). They answer only requests without an `Authorization` header; with one, the
  request is localstripe's as before.
  - `GET /js.stripe.com/v3/`: `stripe_js_v3.js`, our Stripe.js.
  - `GET /v1/payment_intents/{id}?key=…&client_secret=…`: the intent
    (`stripe.retrievePaymentIntent`).
  - `POST /v1/payment_intents/{id}/confirm`: what `stripe.confirmCardPayment` sends:
    `payment_method_data[type]=card`, `payment_method_data[card][number|exp_month|exp_year|cvc]`,
    `payment_method_data[billing_details][…]` (or `payment_method=pm_…`). Creates the card's
    PaymentMethod, sets it on the intent and confirms (localstripe's own confirm refuses a
    `payment_method` with a 500). Answers the intent (`succeeded`, or `requires_action` for a
    3-D Secure card), or Stripe's error.
  - `POST /v1/payment_intents/{id}/_authenticate` with `success=true|false`: the outcome of
    the 3-D Secure challenge (localstripe's route of that name, which this one replaces: it
    also sends `payment_intent.payment_failed` when authentication fails, as Stripe does).
"""

import re
import time
from pathlib import Path

SCRIPT = Path(__file__).with_name("stripe_js_v3.js")

# Stripe's test cards that are declined when charged: number -> (code, decline_code, message).
# https://docs.stripe.com/testing#declined-payments. The last two ask for 3-D Secure first.
DECLINES = {
    "4000000000000002": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000000341": ("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000000000009987": ("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": ("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": ("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": ("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    "4000000000000119": (
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
    "4000008260003178": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "4000008400001629": ("card_declined", "card_declined", "Your card was declined."),
}

AUTHENTICATION_FAILURE = "payment_intent_authentication_failure"
AUTHENTICATION_FAILURE_MESSAGE = (
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again."
)

_INTENT_PATH = re.compile(r"^/v1/payment_intents/(pi_\w+)(/confirm|/_authenticate)?$")


def doc_url(code):
    return "https://stripe.com/docs/error-codes/" + code.replace("_", "-")


def stripe_error(status, type, message, **fields):
    """A localstripe UserError whose body is Stripe's: `type` is not always invalid_request_error."""
    from localstripe.errors import UserError

    error = UserError(status, message)
    error.body = {"error": {"type": type, "message": message, **{k: v for k, v in fields.items() if v is not None}}}
    return error


def install(resources, server):
    like_stripe(resources)
    browser_routes(resources, server)


def like_stripe(resources):
    from localstripe.errors import UserError
    from localstripe.webhooks import schedule_webhook

    PaymentMethod, PaymentIntent, Charge = resources.PaymentMethod, resources.PaymentIntent, resources.Charge
    store = resources.store

    def stored_payment_method(id):
        if not isinstance(id, str):
            return None
        return store.get("payment_method:" + id) or store.get("card:" + id)

    # Declined when charged. `Card` objects (old-style sources) delegate to this one too.
    charging_is_declined = PaymentMethod._charging_is_declined

    def _charging_is_declined(self):
        return charging_is_declined(self) or getattr(self, "_card_number", None) in DECLINES

    PaymentMethod._charging_is_declined = _charging_is_declined

    # With the card's own reason. Stripe also declines with `code` card_declined by default.
    set_auth_failure = Charge._set_auth_failure

    def _set_auth_failure(self):
        set_auth_failure(self)
        pm = stored_payment_method(self.payment_method)
        decline = DECLINES.get(getattr(pm, "_card_number", None))
        code, decline_code, message = decline or ("card_declined", "generic_decline", "Your card was declined.")
        self.failure_code, self.failure_message, self._decline_code = code, message, decline_code

    Charge._set_auth_failure = _set_auth_failure

    # After a failed attempt the intent waits for a new payment method, as on Stripe.
    status_of = PaymentIntent.status.fget

    def status(self):
        status = status_of(self)
        charge = self.latest_charge
        if (
            status == "requires_payment_method"
            and self.payment_method
            and not self._canceled
            and not self.next_action
            and charge is not None
            and charge.status == "failed"
        ):
            return "requires_confirmation"
        return status

    PaymentIntent.status = property(status)

    # Stripe's own words in `last_payment_error`, and the payment method that failed.
    last_payment_error_of = PaymentIntent.last_payment_error.fget

    def last_payment_error(self):
        error = last_payment_error_of(self)
        if not isinstance(error, dict):
            return error
        error = dict(error)
        pm_id = getattr(self, "_failed_payment_method", None)
        if error.get("code") == AUTHENTICATION_FAILURE:
            error["type"] = "invalid_request_error"
            error["message"] = AUTHENTICATION_FAILURE_MESSAGE
        else:
            error["type"] = "card_error"
            charge = self.latest_charge
            error["decline_code"] = getattr(charge, "_decline_code", None) or "generic_decline"
            pm_id = getattr(charge, "payment_method", None) or pm_id
        error["doc_url"] = doc_url(error["code"])
        pm = stored_payment_method(pm_id)
        if pm is not None:
            error["payment_method"] = pm._export()
        return error

    PaymentIntent.last_payment_error = property(last_payment_error)

    report_failure = PaymentIntent._report_failure

    def _report_failure(self):
        self._failed_payment_method = self.payment_method
        self.payment_method = None
        try:
            report_failure(self)  # sends payment_intent.payment_failed, then raises a 402
        except UserError as e:
            if e.code != 402:
                raise
            error = self.last_payment_error
            kind, message = error.pop("type"), error.pop("message")
            raise stripe_error(402, kind, message, payment_intent=self._export(), **error) from None

    PaymentIntent._report_failure = _report_failure

    # For the 3-D Secure route below: the challenge failed, as Stripe reports it.
    def fail_authentication(intent):
        intent.next_action = None
        intent._authentication_failed = True
        intent._failed_payment_method = intent.payment_method
        intent.payment_method = None
        schedule_webhook(resources.Event("payment_intent.payment_failed", intent))

    PaymentIntent._fail_authentication = fail_authentication


def browser_routes(resources, server):
    from aiohttp import web

    PaymentIntent, PaymentMethod = resources.PaymentIntent, resources.PaymentMethod
    script = SCRIPT.read_text(encoding="utf-8")

    def intent_for(data, intent_id):
        """The intent, if `data` carries a publishable key and the intent's client secret."""
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise stripe_error(
                401,
                "invalid_request_error",
                "You did not provide an API key. Stripe.js sends your publishable key as `key`.",
            )
        if not key.startswith("pk_"):
            raise stripe_error(
                401,
                "invalid_request_error",
                "Invalid API Key provided: this route takes a publishable key (pk_…), as Stripe.js sends it.",
            )
        intent = resources.store.get("payment_intent:" + intent_id)
        if intent is None:
            raise stripe_error(
                404,
                "invalid_request_error",
                "No such payment_intent: '%s'" % intent_id,
                code="resource_missing",
                param="intent",
            )
        secret = data.get("client_secret")
        if not isinstance(secret, str) or not secret:
            raise stripe_error(400, "invalid_request_error", "Missing required param: client_secret.", param="client_secret")
        if secret != intent.client_secret:
            raise stripe_error(
                400,
                "invalid_request_error",
                "The client_secret provided does not match the client_secret associated with the PaymentIntent.",
                param="client_secret",
            )
        return intent

    def unexpected_state(intent, doing):
        return stripe_error(
            400,
            "invalid_request_error",
            "You cannot %s this PaymentIntent because it has a status of %s." % (doing, intent.status),
            code="payment_intent_unexpected_state",
            payment_intent=intent._export(),
        )

    def card_error(code, message, param, intent):
        return stripe_error(
            402, "card_error", message, code=code, param=param, doc_url=doc_url(code), payment_intent=intent._export()
        )

    def new_card(data, intent):
        """A PaymentMethod from `payment_method_data`, checked as Stripe checks a card."""
        if not isinstance(data, dict) or data.get("type", "card") != "card" or not isinstance(data.get("card"), dict):
            raise stripe_error(
                400,
                "invalid_request_error",
                "payment_method_data must be a card: payment_method_data[type]=card and payment_method_data[card][…].",
                param="payment_method_data",
            )
        card = data["card"]
        number = re.sub(r"[\s-]", "", str(card.get("number") or ""))
        # localstripe knows only 16-digit numbers (no American Express).
        if not re.fullmatch(r"\d{16}", number) or not luhn_valid(number):
            raise card_error("incorrect_number", "Your card number is incorrect.", "number", intent)
        month, year = str(card.get("exp_month") or ""), str(card.get("exp_year") or "")
        if not re.fullmatch(r"\d{1,2}", month) or not 1 <= int(month) <= 12:
            raise card_error("invalid_expiry_month", "Your card's expiration month is invalid.", "exp_month", intent)
        if not re.fullmatch(r"\d{2}|\d{4}", year):
            raise card_error("invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year", intent)
        month, year = int(month), int(year) + (2000 if len(year) == 2 else 0)
        now = time.gmtime()
        if (year, month) < (now.tm_year, now.tm_mon) or year >= 2100:
            raise card_error("invalid_expiry_year", "Your card's expiration year is invalid.", "exp_year", intent)
        cvc = str(card.get("cvc") or "")
        if not re.fullmatch(r"\d{3}", cvc):
            raise card_error("invalid_cvc", "Your card's security code is invalid.", "cvc", intent)
        billing = data.get("billing_details") if isinstance(data.get("billing_details"), dict) else {}
        address = billing.get("address") if isinstance(billing.get("address"), dict) else {}
        billing_details = {
            "address": {
                k: address.get(k) or None for k in ("city", "country", "line1", "line2", "postal_code", "state")
            },
            "email": billing.get("email") or None,
            "name": billing.get("name") or None,
            "phone": billing.get("phone") or None,
        }
        return PaymentMethod(
            type="card",
            card={"number": number, "exp_month": str(month), "exp_year": str(year), "cvc": cvc},
            billing_details=billing_details,
        )

    def confirm(data, intent):
        if intent.status not in ("requires_payment_method", "requires_confirmation"):
            raise unexpected_state(intent, "confirm")
        if isinstance(data.get("payment_method"), str) and data["payment_method"]:
            pm = PaymentMethod._api_retrieve(data["payment_method"])  # 404 if unknown
        elif "payment_method_data" in data:
            pm = new_card(data["payment_method_data"], intent)
        elif intent.status == "requires_confirmation":
            pm = None
        else:
            raise stripe_error(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Provide payment_method or payment_method_data.",
                code="payment_intent_unexpected_state",
                payment_intent=intent._export(),
            )
        if pm is not None:
            intent.payment_method = pm.id
        # A decline raises Stripe's 402 (see like_stripe); a 3-D Secure card sets next_action.
        intent._confirm(on_failure_now=intent._report_failure)
        return intent

    def authenticate(data, intent):
        if intent.status != "requires_action":
            raise unexpected_state(intent, "authenticate")
        success = str(data.get("success", "")).lower()
        if success not in ("true", "false"):
            raise stripe_error(400, "invalid_request_error", "success must be true or false.", param="success")
        if success == "true":
            intent.next_action = None
            intent._create_charge(on_failure_now=intent._report_failure)
        else:
            intent._fail_authentication()
        return intent

    async def form(request):
        data = server.unflatten_data(request.query) if request.query else {}
        if request.method == "POST":
            body = await request.post()
            if body:
                data.update(server.unflatten_data(body))
        return data

    @web.middleware
    async def from_the_browser(request, handler):
        if request.method == "GET" and request.path.rstrip("/") == "/js.stripe.com/v3":
            return web.Response(
                text=script, content_type="application/javascript", headers={"Cache-Control": "no-cache"}
            )
        match = _INTENT_PATH.match(request.path)
        if match is None or "Authorization" in request.headers:
            return await handler(request)
        intent_id, action = match.group(1), match.group(2)
        if (request.method, action) == ("GET", None):
            run = None
        elif (request.method, action) == ("POST", "/confirm"):
            run = confirm
        elif (request.method, action) == ("POST", "/_authenticate"):
            run = authenticate
        else:
            return await handler(request)
        data = await form(request)
        intent = intent_for(data, intent_id)
        if run is not None:
            intent = run(data, intent)
        return server.json_response(intent._export())

    # Inside error_middleware (which renders the errors raised here), before localstripe's
    # auth_middleware (which knows no publishable keys on these routes).
    server.app.middlewares.insert(server.app.middlewares.index(server.auth_middleware), from_the_browser)


def luhn_valid(number):
    total = 0
    for i, digit in enumerate(reversed(number)):
        d = int(digit)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0
