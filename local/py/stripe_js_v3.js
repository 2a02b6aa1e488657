/*
 * Stripe.js for localstripe: the Makers Market launcher serves this file at
 * `{localstripe}/js.stripe.com/v3/` instead of localstripe's own (see local/py/_stripejs.py).
 *
 * A page written for the real Stripe.js works unchanged with it, for card payments:
 *
 *   const stripe = Stripe('pk_test_…');
 *   const card = stripe.elements().create('card', {style: {base: {…}, invalid: {…}}});
 *   card.mount('#card-element');
 *   card.on('change', (e) => { e.error, e.complete, e.empty, e.brand });
 *   const {paymentIntent, error} =
 *     await stripe.confirmCardPayment(clientSecret, {payment_method: {card, billing_details}});
 *
 * The card element is plain, labelled inputs in the page (number, expiry, CVC, postal code)
 * rather than Stripe's iframe. The card goes to localstripe in the same form fields Stripe.js
 * sends to Stripe (`payment_method_data[card][number]`…), authenticated by the publishable key
 * and the intent's client secret. Only "simple" CORS requests (GET, or a form-urlencoded POST
 * without custom headers): localstripe answers no preflight. A 3-D Secure card opens a modal
 * dialog in the page ("Complete authentication" / "Fail authentication"; Escape fails it).
 *
 * No eval, no inline script or <style>: styles are set through `element.style`, which a
 * Content-Security-Policy without 'unsafe-inline' allows.
 */
(function () {
  'use strict';

  class IntegrationError extends Error {
    constructor(message) {
      super(message);
      this.name = 'IntegrationError';
    }
  }

  // `http://127.0.0.1:8420/` from `http://127.0.0.1:8420/js.stripe.com/v3/`.
  const API_BASE = (function () {
    const src = document.currentScript && document.currentScript.src;
    if (!src) {
      throw new IntegrationError('localstripe Stripe.js: load this script with <script src="{localstripe}/js.stripe.com/v3/">.');
    }
    const url = new URL(src);
    url.search = '';
    url.hash = '';
    return url.href.replace(/js\.stripe\.com\/v3\/?$/, '');
  })();

  const AUTHENTICATION_FAILURE = 'payment_intent_authentication_failure';
  // What Stripe.js says when the customer fails or closes the 3-D Secure challenge.
  const AUTHENTICATION_FAILURE_MESSAGE =
    'We are unable to authenticate your payment method. Please choose a different payment method and try again.';
  const ZERO_DECIMAL = ['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf'];

  let uid = 0;

  // ---- talking to localstripe ---------------------------------------------------------

  function flatten(params, prefix, out) {
    Object.keys(params).forEach((k) => {
      const v = params[k];
      if (v === undefined || v === null) return;
      const key = prefix ? `${prefix}[${k}]` : k;
      if (typeof v === 'object') flatten(v, key, out);
      else out.append(key, String(v));
    });
    return out;
  }

  // A "simple" request: GET with a query, or POST with a form-urlencoded body and no custom
  // header. Resolves to {body} or {error} (Stripe's error object), never rejects.
  async function call(method, path, params) {
    const url = new URL(path, API_BASE);
    const form = flatten(params, '', new URLSearchParams());
    let response;
    try {
      if (method === 'GET') {
        url.search = form.toString();
        response = await fetch(url, {method, credentials: 'omit'});
      } else {
        response = await fetch(url, {method, body: form, credentials: 'omit'});
      }
    } catch (e) {
      return {error: {type: 'api_connection_error', message: `An error occurred with our connection to Stripe (localstripe at ${API_BASE}): ${e.message}`}};
    }
    const body = await response.json().catch(() => null);
    if (!response.ok || !body || body.error) {
      return {error: (body && body.error) || {type: 'api_error', message: `localstripe answered ${response.status}.`}};
    }
    return {body};
  }

  function intentId(clientSecret, method) {
    const match = typeof clientSecret === 'string' && clientSecret.match(/^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/);
    if (!match) {
      throw new IntegrationError(`Invalid value for ${method}: clientSecret should be a client secret of the form \${id}_secret_\${secret}.`);
    }
    return match[1];
  }

  // What confirmCardPayment resolves to for an intent as localstripe answered it.
  function outcome(intent) {
    const failure = intent.last_payment_error;
    if (intent.status === 'requires_payment_method' && failure) {
      const error = Object.assign({}, failure, {payment_intent: intent});
      if (failure.code === AUTHENTICATION_FAILURE) error.message = AUTHENTICATION_FAILURE_MESSAGE;
      return {error};
    }
    return {paymentIntent: intent};
  }

  // ---- the 3-D Secure challenge -------------------------------------------------------

  function money(amount, currency) {
    const code = String(currency || '').toLowerCase();
    const units = ZERO_DECIMAL.includes(code) ? amount : amount / 100;
    try {
      return new Intl.NumberFormat(document.documentElement.lang || undefined, {style: 'currency', currency: code.toUpperCase()}).format(units);
    } catch (e) {
      return `${units} ${code.toUpperCase()}`;
    }
  }

  function button(text, primary) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = text;
    // Explicit, so that the page's own button styles do not reshape the dialog.
    Object.assign(b.style, {
      flex: '1 1 auto',
      width: 'auto',
      margin: '0',
      font: 'inherit',
      fontSize: '1em',
      lineHeight: '1.25',
      textTransform: 'none',
      fontWeight: '600',
      padding: '0.6em 1.1em',
      borderRadius: '6px',
      cursor: 'pointer',
      border: primary ? '1px solid #4f46e5' : '1px solid #767676',
      background: primary ? '#4f46e5' : '#ffffff',
      color: primary ? '#ffffff' : '#1a1a1a',
    });
    return b;
  }

  // A modal dialog in the page; resolves to true (approved) or false (failed or closed).
  function challenge(intent) {
    return new Promise((resolve) => {
      const id = `localstripe-3ds-${++uid}`;
      const before = document.activeElement;
      const dialog = document.createElement('dialog');
      dialog.setAttribute('aria-labelledby', `${id}-title`);
      dialog.setAttribute('aria-describedby', `${id}-text`);
      Object.assign(dialog.style, {
        border: '0',
        borderRadius: '12px',
        padding: '1.5em 1.75em',
        width: 'min(26em, calc(100vw - 2em))',
        boxSizing: 'border-box',
        boxShadow: '0 12px 40px rgba(0, 0, 0, 0.35)',
        background: '#ffffff',
        color: '#1a1a1a',
        lineHeight: '1.45',
      });

      const badge = document.createElement('p');
      badge.textContent = 'Test mode · localstripe';
      Object.assign(badge.style, {margin: '0 0 0.75em', fontSize: '0.8em', fontWeight: '600', letterSpacing: '0.04em', textTransform: 'uppercase', color: '#5b5b5b'});
      const title = document.createElement('h2');
      title.id = `${id}-title`;
      title.textContent = 'Authenticate your payment';
      Object.assign(title.style, {margin: '0 0 0.5em', fontSize: '1.25em', lineHeight: '1.25'});
      const text = document.createElement('p');
      text.id = `${id}-text`;
      text.textContent = `Your bank asks you to approve a payment of ${money(intent.amount, intent.currency)}. ` +
        'This is a 3-D Secure test: choose how the authentication ends.';
      Object.assign(text.style, {margin: '0 0 1.25em'});
      const approve = button('Complete authentication', true);
      approve.autofocus = true;
      const fail = button('Fail authentication', false);
      const actions = document.createElement('div');
      Object.assign(actions.style, {display: 'flex', flexWrap: 'wrap', gap: '0.75em'});
      actions.append(approve, fail);
      dialog.append(badge, title, text, actions);

      let done = false;
      const finish = (approved) => {
        if (done) return;
        done = true;
        if (dialog.open) dialog.close();
        dialog.remove();
        if (before && before.isConnected && typeof before.focus === 'function') before.focus();
        resolve(approved);
      };
      approve.addEventListener('click', () => finish(true));
      fail.addEventListener('click', () => finish(false));
      // Escape, as closing Stripe's challenge: the authentication fails.
      dialog.addEventListener('cancel', (e) => {
        e.preventDefault();
        finish(false);
      });
      document.body.appendChild(dialog);
      if (typeof dialog.showModal === 'function') {
        dialog.showModal();
      } else {
        dialog.setAttribute('open', '');
        dialog.setAttribute('role', 'dialog');
        dialog.setAttribute('aria-modal', 'true');
      }
      approve.focus();
    });
  }

  // ---- the card element ---------------------------------------------------------------

  const STYLE_KEYS = ['color', 'fontFamily', 'fontSize', 'fontStyle', 'fontVariant', 'fontWeight', 'letterSpacing', 'lineHeight', 'textTransform', 'textShadow'];
  const INVALID_COLOR = '#b3261e';

  const MESSAGES = {
    incomplete_number: 'Your card number is incomplete.',
    invalid_number: 'Your card number is invalid.',
    incomplete_expiry: "Your card's expiration date is incomplete.",
    invalid_expiry_month: "Your card's expiration date is invalid.",
    invalid_expiry_month_past: "Your card's expiration date is in the past.",
    invalid_expiry_year_past: "Your card's expiration year is in the past.",
    invalid_expiry_year: "Your card's expiration year is invalid.",
    incomplete_cvc: "Your card's security code is incomplete.",
  };

  function digits(s) {
    return String(s || '').replace(/\D/g, '');
  }

  function brandOf(number) {
    if (/^4/.test(number)) return 'visa';
    if (/^(5[1-5]|2[2-7])/.test(number)) return 'mastercard';
    if (/^3[47]/.test(number)) return 'amex';
    if (/^(6011|65|64[4-9])/.test(number)) return 'discover';
    return 'unknown';
  }

  function luhn(number) {
    let sum = 0;
    for (let i = 0; i < number.length; i++) {
      let d = Number(number[number.length - 1 - i]);
      if (i % 2 === 1) d = d > 4 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    return sum % 10 === 0;
  }

  // Each field's state: {empty, complete, code (an error code or null), now (show the error
  // before the customer leaves the field: the value can only be wrong, not unfinished)}.
  function checkNumber(value) {
    const n = digits(value);
    const length = brandOf(n) === 'amex' ? 15 : 16;
    if (!n) return {empty: true, complete: false, code: 'incomplete_number', now: false};
    if (n.length < length) return {empty: false, complete: false, code: 'incomplete_number', now: false};
    if (!luhn(n)) return {empty: false, complete: false, code: 'invalid_number', now: true};
    return {empty: false, complete: true, code: null, now: false};
  }

  function checkExpiry(value) {
    const d = digits(value);
    if (!d) return {empty: true, complete: false, code: 'incomplete_expiry', now: false};
    const month = Number(d.slice(0, 2));
    if (d.length >= 2 && (month < 1 || month > 12)) return {empty: false, complete: false, code: 'invalid_expiry_month', now: true};
    if (d.length < 4) return {empty: false, complete: false, code: 'incomplete_expiry', now: false};
    const year = 2000 + Number(d.slice(2, 4));
    const today = new Date();
    const [thisYear, thisMonth] = [today.getFullYear(), today.getMonth() + 1];
    if (year < thisYear) return {empty: false, complete: false, code: 'invalid_expiry_year_past', now: true};
    if (year === thisYear && month < thisMonth) return {empty: false, complete: false, code: 'invalid_expiry_month_past', now: true};
    if (year > thisYear + 50) return {empty: false, complete: false, code: 'invalid_expiry_year', now: true};
    return {empty: false, complete: true, code: null, now: false};
  }

  function checkCvc(value, brand) {
    const d = digits(value);
    if (!d) return {empty: true, complete: false, code: 'incomplete_cvc', now: false};
    if (d.length < (brand === 'amex' ? 4 : 3)) return {empty: false, complete: false, code: 'incomplete_cvc', now: false};
    return {empty: false, complete: true, code: null, now: false};
  }

  function checkPostalCode(value) {
    // Optional here (Stripe asks for it for some card countries only).
    return {empty: !String(value || '').trim(), complete: true, code: null, now: false};
  }

  // Keeps the caret after the same number of digits when a field is reformatted.
  function reformat(input, format) {
    const caret = input.selectionStart === null ? input.value.length : input.selectionStart;
    const before = digits(input.value.slice(0, caret)).length;
    const all = digits(input.value).length;
    const formatted = format(input.value);
    if (formatted === input.value) return;
    input.value = formatted;
    let pos = formatted.length;
    if (before < all) {
      pos = 0;
      for (let seen = 0; pos < formatted.length && seen < before; pos++) {
        if (/\d/.test(formatted[pos])) seen++;
      }
    }
    if (document.activeElement === input) input.setSelectionRange(pos, pos);
  }

  const FIELDS = [
    // The number on a row of its own, the rest below it (they wrap on a narrow page).
    {key: 'number', label: 'Card number', autocomplete: 'cc-number', placeholder: '1234 1234 1234 1234', numeric: true, flex: '1 1 100%'},
    {key: 'expiry', label: 'Expiry (MM / YY)', autocomplete: 'cc-exp', placeholder: 'MM / YY', numeric: true, flex: '1 1 7em'},
    {key: 'cvc', label: 'CVC', autocomplete: 'cc-csc', placeholder: '123', numeric: true, flex: '1 1 5em'},
    {key: 'postalCode', label: 'Postal code', autocomplete: 'postal-code', placeholder: '', numeric: false, flex: '1 1 7em'},
  ];

  class CardElement {
    constructor(elements, options) {
      this._elements = elements;
      this._options = Object.assign({}, options);
      this._handlers = {};
      this._container = null;
      this._root = null;
      this._inputs = null;
      this._touched = {};
      this._showAll = false;
      this._last = '';
      this._focused = false;
      this._destroyed = false;
      this._id = `localstripe-card-${++uid}`;
    }

    mount(target) {
      if (this._destroyed) throw new IntegrationError('This Element has already been destroyed. Please create a new one.');
      const container = typeof target === 'string' ? document.querySelector(target) : target;
      if (!(container instanceof window.HTMLElement)) {
        throw new IntegrationError(`The selector you specified (${target}) applies to no DOM elements that are currently on the page.`);
      }
      if (this._root) {
        if (this._container === container) return;
        throw new IntegrationError('This Element is already mounted. Use `unmount()` to unmount the Element before re-mounting.');
      }
      this._container = container;
      this._root = this._build();
      container.appendChild(this._root);
      this._refresh(false);
      setTimeout(() => this._emit('ready', {elementType: 'card'}), 0);
    }

    unmount() {
      if (!this._root) return;
      this._root.remove();
      this._container.classList.remove('StripeElement', 'StripeElement--empty', 'StripeElement--complete', 'StripeElement--invalid', 'StripeElement--focus');
      this._root = null;
      this._container = null;
      this._inputs = null;
      this._touched = {};
      this._showAll = false;
      this._last = '';
    }

    destroy() {
      this.unmount();
      this._destroyed = true;
      this._elements._forget(this);
    }

    on(event, handler) {
      (this._handlers[event] = this._handlers[event] || []).push(handler);
      return this;
    }

    once(event, handler) {
      const wrapped = (e) => {
        this.off(event, wrapped);
        handler(e);
      };
      return this.on(event, wrapped);
    }

    off(event, handler) {
      const list = this._handlers[event] || [];
      this._handlers[event] = handler ? list.filter((h) => h !== handler) : [];
      return this;
    }

    update(options) {
      Object.assign(this._options, options);
      if (this._root) {
        const container = this._container;
        const values = this._values();
        this.unmount();
        this.mount(container);
        this._setValues(values);
        this._refresh(false);
      }
    }

    focus() {
      if (this._inputs) this._inputs.number.focus();
    }

    blur() {
      if (this._root && this._root.contains(document.activeElement)) document.activeElement.blur();
    }

    clear() {
      if (!this._inputs) return;
      this._setValues({});
      this._touched = {};
      this._showAll = false;
      this._refresh(true);
    }

    _emit(event, payload) {
      (this._handlers[event] || []).slice().forEach((handler) => handler(payload));
    }

    _fields() {
      return FIELDS.filter((f) => f.key !== 'postalCode' || !this._options.hidePostalCode);
    }

    _build() {
      const style = this._options.style || {};
      const base = style.base || {};
      const root = document.createElement('div');
      root.setAttribute('role', 'group');
      root.setAttribute('aria-label', 'Card details');
      Object.assign(root.style, {display: 'flex', flexWrap: 'wrap', gap: '0.75em', alignItems: 'flex-end'});
      STYLE_KEYS.forEach((k) => {
        if (typeof base[k] === 'string' || typeof base[k] === 'number') root.style[k] = String(base[k]);
      });

      this._inputs = {};
      this._fields().forEach((field) => {
        const wrap = document.createElement('div');
        Object.assign(wrap.style, {flex: field.flex, minWidth: '0', display: 'flex', flexDirection: 'column', gap: '0.3em'});
        const label = document.createElement('label');
        const input = document.createElement('input');
        input.id = `${this._id}-${field.key}`;
        label.htmlFor = input.id;
        label.textContent = field.label;
        Object.assign(label.style, {fontSize: '0.85em', fontWeight: '500', whiteSpace: 'nowrap', overflow: 'hidden', textOverflow: 'ellipsis'});
        input.type = 'text';
        input.name = field.autocomplete;
        input.autocomplete = field.autocomplete;
        input.spellcheck = false;
        input.placeholder = field.placeholder;
        if (field.numeric) input.inputMode = 'numeric';
        input.maxLength = {number: 23, expiry: 7, cvc: 4, postalCode: 10}[field.key];
        input.disabled = Boolean(this._options.disabled);
        Object.assign(input.style, {
          font: 'inherit',
          color: 'inherit',
          width: '100%',
          minWidth: '0',
          boxSizing: 'border-box',
          padding: '0.5em 0.6em',
          border: '1px solid #767676',
          borderRadius: '4px',
          background: 'transparent',
          margin: '0',
        });
        input.addEventListener('input', (e) => this._input(field.key, e));
        input.addEventListener('blur', () => {
          if (input.value) this._touched[field.key] = true;
          this._refresh(false);
        });
        wrap.append(label, input);
        root.appendChild(wrap);
        this._inputs[field.key] = input;
      });

      root.addEventListener('focusin', () => {
        if (!this._focused) {
          this._focused = true;
          this._container.classList.add('StripeElement--focus');
          this._emit('focus', {elementType: 'card'});
        }
      });
      root.addEventListener('focusout', (e) => {
        if (this._focused && !root.contains(e.relatedTarget)) {
          this._focused = false;
          if (this._container) this._container.classList.remove('StripeElement--focus');
          this._emit('blur', {elementType: 'card'});
        }
      });
      return root;
    }

    _input(key, event) {
      const input = this._inputs[key];
      const deleting = event && typeof event.inputType === 'string' && event.inputType.startsWith('delete');
      if (key === 'number') {
        reformat(input, (v) => {
          const n = digits(v).slice(0, brandOf(digits(v)) === 'amex' ? 15 : 16);
          return brandOf(n) === 'amex'
            ? [n.slice(0, 4), n.slice(4, 10), n.slice(10)].filter(Boolean).join(' ')
            : n.replace(/(\d{4})(?=\d)/g, '$1 ');
        });
      } else if (key === 'expiry') {
        reformat(input, (v) => {
          let d = digits(v).slice(0, 4);
          if (d.length === 1 && Number(d) > 1 && !deleting) d = `0${d}`;
          if (d.length > 2) return `${d.slice(0, 2)} / ${d.slice(2)}`;
          return d.length === 2 && !deleting ? `${d} / ` : d;
        });
      } else if (key === 'cvc') {
        reformat(input, (v) => digits(v).slice(0, brandOf(digits(this._inputs.number.value)) === 'amex' ? 4 : 3));
      }
      this._refresh(true);
    }

    _values() {
      const values = {};
      Object.keys(this._inputs || {}).forEach((k) => {
        values[k] = this._inputs[k].value;
      });
      return values;
    }

    _setValues(values) {
      Object.keys(this._inputs || {}).forEach((k) => {
        this._inputs[k].value = values[k] || '';
      });
    }

    // The element's state as the `change` event reports it.
    _state() {
      const v = this._values();
      const brand = brandOf(digits(v.number));
      const fields = {number: checkNumber(v.number), expiry: checkExpiry(v.expiry), cvc: checkCvc(v.cvc, brand)};
      if ('postalCode' in v) fields.postalCode = checkPostalCode(v.postalCode);
      const shown = {};
      let error;
      Object.keys(fields).forEach((k) => {
        const f = fields[k];
        if (f.code && (f.now || this._touched[k] || this._showAll)) {
          shown[k] = true;
          if (!error) error = {type: 'validation_error', code: f.code, message: MESSAGES[f.code]};
        }
      });
      const complete = Object.keys(fields).every((k) => fields[k].complete);
      const empty = Object.keys(fields).every((k) => fields[k].empty);
      return {
        event: {elementType: 'card', empty, complete, error, brand, value: {postalCode: v.postalCode || ''}},
        fields,
        shown,
      };
    }

    // Marks invalid fields; emits `change` when the state changed (always on input).
    _refresh(input) {
      if (!this._root) return null;
      const state = this._state();
      const invalidColor = ((this._options.style || {}).invalid || {}).color || INVALID_COLOR;
      Object.keys(this._inputs).forEach((k) => {
        const input = this._inputs[k];
        const invalid = Boolean(state.shown[k]);
        if (invalid) input.setAttribute('aria-invalid', 'true');
        else input.removeAttribute('aria-invalid');
        input.style.color = invalid ? invalidColor : 'inherit';
        input.style.borderColor = invalid ? invalidColor : '#767676';
      });
      const c = this._container.classList;
      c.add('StripeElement');
      c.toggle('StripeElement--empty', state.event.empty);
      c.toggle('StripeElement--complete', state.event.complete);
      c.toggle('StripeElement--invalid', Boolean(state.event.error));
      const e = state.event;
      const key = [e.empty, e.complete, e.error && e.error.code, e.brand, e.value.postalCode].join('|');
      if (input || key !== this._last) {
        this._last = key;
        this._emit('change', e);
      }
      return state;
    }

    // For confirmCardPayment: the card, or the validation error Stripe.js would give.
    _card() {
      if (!this._root) {
        throw new IntegrationError('We could not retrieve data from the specified Element. Please make sure the Element you are attempting to use is still mounted.');
      }
      this._showAll = true;
      const state = this._refresh(false);
      if (state.event.error) return {error: state.event.error};
      if (!state.event.complete) return {error: {type: 'validation_error', code: 'incomplete_number', message: MESSAGES.incomplete_number}};
      const v = this._values();
      const expiry = digits(v.expiry);
      return {
        card: {number: digits(v.number), exp_month: expiry.slice(0, 2), exp_year: `20${expiry.slice(2, 4)}`, cvc: digits(v.cvc)},
        postalCode: (v.postalCode || '').trim(),
      };
    }
  }

  class Elements {
    constructor(stripe, options) {
      this._stripe = stripe;
      this._options = options || {};
      this._card = null;
    }

    create(type, options) {
      if (type !== 'card') {
        throw new IntegrationError(`localstripe's Stripe.js supports only the 'card' Element, not '${type}'.`);
      }
      if (this._card) throw new IntegrationError('Can only create one Element of type card.');
      this._card = new CardElement(this, options);
      return this._card;
    }

    getElement(type) {
      return type === 'card' ? this._card : null;
    }

    update(options) {
      Object.assign(this._options, options);
    }

    _forget(element) {
      if (this._card === element) this._card = null;
    }
  }

  // ---- Stripe(…) ----------------------------------------------------------------------

  function Stripe(key, options) {
    if (!(this instanceof Stripe)) return new Stripe(key, options);
    if (typeof key !== 'string' || !key) {
      throw new IntegrationError('Please call Stripe() with your publishable key. You used an empty string.');
    }
    if (!key.startsWith('pk_')) {
      throw new IntegrationError(`Invalid value for Stripe(): apiKey should be a publishable key (pk_…); you used ${key.slice(0, 3)}….`);
    }
    this._key = key;
    this._options = options || {};
  }

  Stripe.prototype.elements = function (options) {
    return new Elements(this, options);
  };

  Stripe.prototype.retrievePaymentIntent = async function (clientSecret) {
    const id = intentId(clientSecret, 'retrievePaymentIntent');
    const answer = await call('GET', `v1/payment_intents/${id}`, {key: this._key, client_secret: clientSecret});
    return answer.error ? {error: answer.error} : {paymentIntent: answer.body};
  };

  Stripe.prototype.confirmCardPayment = async function (clientSecret, data, options) {
    const id = intentId(clientSecret, 'confirmCardPayment');
    const params = {key: this._key, client_secret: clientSecret, use_stripe_sdk: 'true', expected_payment_method_type: 'card'};
    const method = data && data.payment_method;
    if (typeof method === 'string') {
      params.payment_method = method;
    } else if (method && typeof method === 'object') {
      if (!(method.card instanceof CardElement)) {
        throw new IntegrationError("confirmCardPayment: payment_method.card must be a card Element (elements.create('card')).");
      }
      const card = method.card._card();
      if (card.error) return {error: card.error};
      const billing = Object.assign({}, method.billing_details);
      if (card.postalCode) {
        billing.address = Object.assign({postal_code: card.postalCode}, billing.address);
      }
      params.payment_method_data = {type: 'card', card: card.card, billing_details: billing};
    }
    if (data && data.return_url) params.return_url = data.return_url;

    const confirmed = await call('POST', `v1/payment_intents/${id}/confirm`, params);
    if (confirmed.error) return {error: confirmed.error};
    let intent = confirmed.body;
    if (intent.status === 'requires_action' && !(options && options.handleActions === false)) {
      const approved = await challenge(intent);
      const authenticated = await call('POST', `v1/payment_intents/${id}/_authenticate`, {
        key: this._key,
        client_secret: clientSecret,
        success: approved ? 'true' : 'false',
      });
      if (authenticated.error) return {error: authenticated.error};
      intent = authenticated.body;
    }
    return outcome(intent);
  };

  [
    'confirmPayment', 'confirmSetup', 'confirmCardSetup', 'createPaymentMethod', 'createToken', 'createSource',
    'handleCardAction', 'handleNextAction', 'paymentRequest', 'redirectToCheckout', 'retrieveSetupIntent',
  ].forEach((name) => {
    Stripe.prototype[name] = function () {
      throw new IntegrationError(`localstripe's Stripe.js (Makers Market) has no ${name}(): only elements().create('card'), confirmCardPayment() and retrievePaymentIntent().`);
    };
  });

  window.Stripe = Stripe;
  console.info(`localstripe: Stripe.js is a local fake; card payments go to ${API_BASE}`);
})();
