"""Start moto's server for the local stack: `python moto_launcher.py --host H --port P
[--cognito-events FILE]`.

The same as `moto_server -H H -p P`, plus: exits when its parent process is gone. State is
in memory and fresh at every start.

With `--cognito-events FILE`, moto's Cognito also does what real Cognito does around
sign-up and password reset, which moto leaves out, so that the web shop's forms work
unchanged locally:

* `SignUp`, `ResendConfirmationCode` and `ForgotPassword` make a 6-digit code (moto makes
  none, or one only a test header shows) and write `{"kind": "code", ...}` to FILE; the
  local stack's Cognito pump emails it through SES (the local mailbox, `cargo xtask mail`),
  as Cognito would.
* `ConfirmSignUp` and `ConfirmForgotPassword` check that code (moto takes any code):
  a wrong one is `CodeMismatchException`, as in Cognito.
* A confirmed sign-up writes `{"kind": "post_confirmation", "event": ...}`: the
  `PostConfirmation_ConfirmSignUp` trigger event Cognito would send. The pump hands it to
  the real `post-confirmation` binary, as Cognito invokes its trigger.
* `RevokeToken` (absent in moto) revokes a refresh token, as sign-out needs.

FILE gets one JSON object per line, appended and flushed at once.
"""

import argparse
import json
import os
import secrets
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _watchdog import exit_with_parent  # noqa: E402


def cognito_like_aws(events_path):
    from moto.cognitoidp import models, responses
    from moto.cognitoidp.exceptions import CodeMismatchException, UserNotFoundError
    from moto.core.responses import ActionResult, EmptyResult

    lock = threading.Lock()
    # (user pool id, user id) -> (purpose, code)
    codes = {}

    def emit(record):
        with lock, open(events_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def all_pools():
        # Only the accounts and regions that exist already (iterating creates none).
        for regions in list(models.cognitoidp_backends.values()):
            for backend in list(regions.values()):
                yield from list(backend.user_pools.values())

    def pool_and_user(client_id, username):
        for pool in all_pools():
            if client_id in pool.clients:
                user = pool._get_user(username)
                if user is None:
                    raise UserNotFoundError("User does not exist.")
                return pool, user
        raise UserNotFoundError("User does not exist.")

    def attributes(user):
        return {a["Name"]: a["Value"] for a in user.attributes}

    def new_code(client_id, username, purpose):
        pool, user = pool_and_user(client_id, username)
        code = f"{secrets.randbelow(1_000_000):06d}"
        codes[(pool.id, user.id)] = (purpose, code)
        emit(
            {
                "kind": "code",
                "purpose": purpose,
                "user_pool_id": pool.id,
                "email": attributes(user).get("email", username),
                "name": attributes(user).get("name", ""),
                "code": code,
            }
        )

    def check_code(client_id, username, purpose, code):
        pool, user = pool_and_user(client_id, username)
        expected = codes.get((pool.id, user.id))
        if expected is None or expected != (purpose, code):
            raise CodeMismatchException("Invalid verification code provided, please try again.")
        del codes[(pool.id, user.id)]
        return pool, user

    Response = responses.CognitoIdpResponse
    original_sign_up = Response.sign_up
    original_confirm_sign_up = Response.confirm_sign_up
    original_forgot_password = Response.forgot_password
    original_confirm_forgot_password = Response.confirm_forgot_password

    def sign_up(self):
        result = original_sign_up(self)
        new_code(self._get_param("ClientId"), self._get_param("Username"), "sign-up")
        return result

    def confirm_sign_up(self):
        client_id = self._get_param("ClientId")
        username = self._get_param("Username")
        pool, user = check_code(client_id, username, "sign-up", self._get_param("ConfirmationCode") or "")
        result = original_confirm_sign_up(self)
        attrs = attributes(user)
        attrs.update({"sub": user.id, "cognito:user_status": "CONFIRMED"})
        emit(
            {
                "kind": "post_confirmation",
                "event": {
                    "version": "1",
                    "triggerSource": "PostConfirmation_ConfirmSignUp",
                    "region": pool.region,
                    "userPoolId": pool.id,
                    "userName": user.username,
                    "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
                    "request": {"userAttributes": attrs},
                    "response": {},
                },
            }
        )
        return result

    def resend_confirmation_code(self):
        new_code(self._get_param("ClientId"), self._get_param("Username"), "sign-up")
        return ActionResult({"CodeDeliveryDetails": {"DeliveryMedium": "EMAIL", "AttributeName": "email"}})

    def forgot_password(self):
        result = original_forgot_password(self)
        try:
            new_code(self._get_param("ClientId"), self._get_param("Username"), "password")
        except UserNotFoundError:
            pass  # as Cognito: the same answer whether or not the account exists
        return result

    def confirm_forgot_password(self):
        check_code(
            self._get_param("ClientId"),
            self._get_param("Username"),
            "password",
            self._get_param("ConfirmationCode") or "",
        )
        return original_confirm_forgot_password(self)

    def revoke_token(self):
        token = self._get_param("Token")
        client_id = self._get_param("ClientId")
        for pool in all_pools():
            entry = pool.refresh_tokens.get(token)
            if entry is not None and entry[0] == client_id:
                pool.refresh_tokens[token] = None
        return EmptyResult()

    Response.sign_up = sign_up
    Response.confirm_sign_up = confirm_sign_up
    Response.resend_confirmation_code = resend_confirmation_code
    Response.forgot_password = forgot_password
    Response.confirm_forgot_password = confirm_forgot_password
    Response.revoke_token = revoke_token


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cognito-events", default=None)
    args = parser.parse_args()

    exit_with_parent()

    if args.cognito_events:
        cognito_like_aws(args.cognito_events)

    from moto.server import main as moto_main

    moto_main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main()
