/**
 * What `npm start` and `npm run send` agree on without talking to each other: the port and the
 * webhook signing key. Both are fixed and documented rather than shared through a session file, so
 * `send` (or curl, or a change-management tool pointed at the laptop) works without reading state left
 * behind by another process, and a restarted sandbox accepts what was signed before the restart.
 */

export const DEFAULT_PORT = 3000;

/**
 * SANDBOX ONLY. It signs webhooks for the local sandbox and nothing else: the deployed function
 * reads its keys from Secrets Manager (`WEBHOOK_SECRET_ID`) and never sees this constant (nothing in
 * functions/ or lib/ imports sandbox/). It is the base64 of a sentence saying so, 51 bytes, above the
 * 24-byte minimum the verifier enforces. Override both sides with `SANDBOX_WEBHOOK_KEY`.
 */
export const SANDBOX_WEBHOOK_KEY =
  'whsec_dGF1cnVzZGItcHJveHktdXBncmFkZXIgc2FuZGJveCBrZXk6IGxvY2FsIHVzZSBvbmx5';

export const UPGRADES_PATH = '/upgrades';

type Env = Record<string, string | undefined>;

export function webhookKeyFrom(env: Env): string {
  return env.SANDBOX_WEBHOOK_KEY?.trim() || SANDBOX_WEBHOOK_KEY;
}

/** `PORT` as a TCP port; 0 lets the OS choose. */
export function portFrom(env: Env): number {
  const text = env.PORT?.trim();
  if (!text) return DEFAULT_PORT;
  const port = Number(text);
  if (!/^[0-9]+$/.test(text) || port > 65_535) {
    throw new Error(`PORT must be a whole number from 0 to 65535 (got "${text.slice(0, 20)}")`);
  }
  return port;
}

/** `http://127.0.0.1:$PORT`: the upgrades are at UPGRADES_PATH below it, the rollouts at /rollouts. */
export function sandboxUrlFrom(env: Env): string {
  return `http://127.0.0.1:${portFrom(env)}`;
}
