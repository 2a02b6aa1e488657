// The running local stack, as described by the JSON file `cargo xtask dev` writes
// (.local/stack.json, or the file named by STACK_FILE).
import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {resolve} from 'node:path';

const DEFAULT_STACK_FILE = fileURLToPath(new URL('../../../.local/stack.json', import.meta.url));

export function readStack() {
  const file = resolve(process.env.STACK_FILE || DEFAULT_STACK_FILE);
  let stack;
  try {
    stack = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the stack description ${file} (${e.message}): run \`cargo xtask dev\`, or set STACK_FILE (see browser/README.md)`);
  }
  const stripe = stack.stripe || {};
  if (!stripe.api_base || !stripe.secret_key) {
    throw new Error(`${file} has no stripe.api_base and stripe.secret_key`);
  }
  return {
    file,
    stripe: {
      apiBase: stripe.api_base.endsWith('/') ? stripe.api_base : `${stripe.api_base}/`,
      secretKey: stripe.secret_key,
      // localstripe takes any pk_… key; stack files written before publishable_key existed lack it.
      publishableKey: stripe.publishable_key || 'pk_test_makers_market',
    },
  };
}
