import { timingSafeEqual } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import type { SecretReader } from '../aws/secrets.ts';
import { SecretError, SignatureError } from '../errors.ts';
import { type RequestHeaders, signatureEntriesOf, webhookHeadersOf } from './delivery-headers.ts';

/** Request headers with lower-case names (lib/http/http-event.ts headerMapOf). */
export type WebhookHeaders = RequestHeaders;

export interface WebhookVerifierOptions {
  /** Secrets Manager id of `{"key":"whsec_..."}` or `{"keys":["whsec_...", ...]}` (prefix optional); undefined = not configured. */
  secretId: string | undefined;
  secrets: SecretReader;
  /** How far `webhook-timestamp` (or `svix-timestamp`) may be from now, either way. */
  toleranceSeconds?: number;
  /** Shortest time between two re-reads of the secret forced by a signature no cached key matched. */
  keyRefreshIntervalMs?: number;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

export interface VerifiedWebhook {
  webhookId: string;
  timestamp: Date;
}

export interface WebhookVerifier {
  /** Checks the Standard Webhooks signature over the raw body exactly as received; throws SignatureError. */
  verify(rawBody: string, headers: WebhookHeaders): Promise<VerifiedWebhook>;
}

const defaults = {
  toleranceSeconds: 5 * 60,
  keyRefreshIntervalMs: 60_000,
};

const MAX_KEYS = 10;
// The spec recommends 24..64 random bytes; shorter keys are refused as too weak, longer ones do no harm.
const MIN_KEY_BYTES = 24;
// The `whsec_` prefix is optional, as in every Standard Webhooks library (and Svix's own dashboard
// shows it, while some senders hand out the bare base64): refusing the bare form refused every request
// of a correctly configured sender. A pasted password still fails: it must be strict base64 of at
// least MIN_KEY_BYTES bytes.
const KEY_PATTERN = /^(?:whsec_)?((?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?)$/;
// Base64 of a 32-byte HMAC-SHA256; anything else can never match, so it is not worth a secret re-read.
const V1_SIGNATURE_PATTERN = /^[A-Za-z0-9+/]{43}=$/;
// The library parses with parseInt ("1795000000abc" passes) but signs the *number*, so "0179..." would be
// signed differently from what the sender signed: only canonical whole seconds are accepted.
const TIMESTAMP_PATTERN = /^(?:0|[1-9][0-9]{0,11})$/;

const reasons = {
  notConfigured: 'webhook signing key is not configured',
  missingHeader: (family: string) =>
    `missing ${family}-id, ${family}-timestamp or ${family}-signature header (webhook-* or svix-* names)`,
  malformedTimestamp: (family: string) => `${family}-timestamp must be a whole number of unix seconds`,
  unreadableKey: 'webhook signing key could not be read',
  noMatch: 'no signature matches',
  outsideTolerance: (family: string, seconds: number) =>
    `${family}-timestamp is outside the ${seconds % 60 === 0 ? `${seconds / 60} minute` : `${seconds} second`} tolerance`,
};

/** The `v1` signatures of a signature header; other versions are ignored. */
function v1SignaturesOf(header: string): string[] {
  return signatureEntriesOf(header)
    .filter((entry) => entry.version === 'v1')
    .map((entry) => entry.signature)
    .filter((signature) => V1_SIGNATURE_PATTERN.test(signature));
}

function keyStringsOf(secret: unknown): unknown[] | undefined {
  if (typeof secret !== 'object' || secret === null || Array.isArray(secret)) return undefined;
  const { key, keys } = secret as { key?: unknown; keys?: unknown };
  if (key !== undefined && keys === undefined) return [key];
  if (keys !== undefined && key === undefined && Array.isArray(keys)) return keys;
  return undefined;
}

/** Messages name the secret id and the entry's position only, never the entry. */
function signingKeysFrom(secret: unknown, secretId: string): Webhook[] {
  const keyStrings = keyStringsOf(secret);
  if (keyStrings === undefined || keyStrings.length < 1 || keyStrings.length > MAX_KEYS) {
    throw new SecretError(
      `secret ${secretId} must be {"key":"whsec_..."} or {"keys":["whsec_...", ...]} with 1 to ${MAX_KEYS} keys (the whsec_ prefix is optional)`,
    );
  }
  return keyStrings.map((candidate, index) => {
    const encoded = typeof candidate === 'string' ? KEY_PATTERN.exec(candidate)?.[1] : undefined;
    if (encoded === undefined || Buffer.from(encoded, 'base64').length < MIN_KEY_BYTES) {
      throw new SecretError(
        `secret ${secretId} key ${index + 1} must be the base64 of at least ${MIN_KEY_BYTES} bytes, with or without the "whsec_" prefix`,
      );
    }
    return new Webhook(candidate as string);
  });
}

function anyKeyMatches(
  keys: Webhook[],
  webhookId: string,
  timestamp: Date,
  rawBody: string,
  signatures: string[],
) {
  return keys.some((key) => {
    // sign() is the library's HMAC over "{id}.{timestamp}.{body}"; verify() is not used because it reads
    // Date.now() itself with a fixed tolerance, which leaves no clock to inject.
    const expected = Buffer.from(key.sign(webhookId, timestamp, rawBody).slice('v1,'.length));
    return signatures.some((signature) => timingSafeEqual(Buffer.from(signature), expected));
  });
}

/**
 * Verifies Standard Webhooks signatures with the key(s) of the webhook secret. Any key of a rotation list
 * verifying is enough. The timestamp tolerance bounds replays; duplicate deliveries of the same
 * `webhook-id` are suppressed elsewhere.
 *
 * When no cached key matches, the key may just have rotated, so the secret is read once more — but at
 * most once per `keyRefreshIntervalMs` per container, so a flood of bad signatures costs one Secrets
 * Manager call per interval, not one per request. A rotation is therefore picked up on the first failing
 * request (or within the interval), well before the secret cache's own time to live. The cached keys are
 * replaced only by a read that succeeds: a forged request during a Secrets Manager outage must not leave
 * the container without keys, which would refuse every genuine webhook until the outage ends.
 */
export function createWebhookVerifier(options: WebhookVerifierOptions): WebhookVerifier {
  const { secretId, secrets } = options;
  const toleranceSeconds = options.toleranceSeconds ?? defaults.toleranceSeconds;
  const keyRefreshIntervalMs = options.keyRefreshIntervalMs ?? defaults.keyRefreshIntervalMs;
  const now = options.now ?? Date.now;
  let lastRefreshAt = Number.NEGATIVE_INFINITY;

  /** The keys as cached, or (`fresh`) as read again now; a failed re-read leaves the cached keys in use. */
  async function readKeys(id: string, fresh = false): Promise<Webhook[]> {
    try {
      return signingKeysFrom(await (fresh ? secrets.refresh(id) : secrets.readJson(id)), id);
    } catch (error) {
      throw new SignatureError(reasons.unreadableKey, { cause: error });
    }
  }

  /** Claimed before the read starts, so concurrent failures share one refresh. */
  function claimRefresh(): boolean {
    const at = now();
    if (at - lastRefreshAt < keyRefreshIntervalMs) return false;
    lastRefreshAt = at;
    return true;
  }

  return {
    async verify(rawBody, headers) {
      if (secretId === undefined) throw new SignatureError(reasons.notConfigured);
      const {
        family,
        id: webhookId,
        timestamp: timestampHeader,
        signature: signatureHeader,
      } = webhookHeadersOf(headers);
      if (!webhookId || !timestampHeader || !signatureHeader) {
        throw new SignatureError(reasons.missingHeader(family));
      }
      if (!TIMESTAMP_PATTERN.test(timestampHeader))
        throw new SignatureError(reasons.malformedTimestamp(family));
      const seconds = Number(timestampHeader);
      if (Math.abs(Math.floor(now() / 1000) - seconds) > toleranceSeconds) {
        throw new SignatureError(reasons.outsideTolerance(family, toleranceSeconds));
      }
      const timestamp = new Date(seconds * 1000);
      const signatures = v1SignaturesOf(signatureHeader);
      // Nothing that could match: no reason to spend a Secrets Manager call.
      if (signatures.length === 0) throw new SignatureError(reasons.noMatch);

      if (anyKeyMatches(await readKeys(secretId), webhookId, timestamp, rawBody, signatures)) {
        return { webhookId, timestamp };
      }
      if (claimRefresh()) {
        if (anyKeyMatches(await readKeys(secretId, true), webhookId, timestamp, rawBody, signatures)) {
          return { webhookId, timestamp };
        }
      }
      throw new SignatureError(reasons.noMatch);
    },
  };
}
