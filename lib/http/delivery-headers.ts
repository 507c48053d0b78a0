import { HeaderError } from '../errors.ts';

/**
 * Standard Webhooks names its headers `webhook-*`; Svix, where the scheme comes from, sends `svix-*`
 * by default (the `webhook-` names are its white-label option). Both are read; when both are there,
 * `webhook-*` is used, all three headers from the same family.
 */
export const WEBHOOK_HEADER_FAMILIES = ['webhook', 'svix'] as const;
export type WebhookHeaderFamily = (typeof WEBHOOK_HEADER_FAMILIES)[number];

export interface WebhookHeaderValues {
  family: WebhookHeaderFamily;
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** Request headers with lower-case names (lib/http/http-event.ts headerMapOf). */
export interface RequestHeaders {
  readonly [name: string]: string | undefined;
}

// A direct invocation can put any JSON in `headers`; only strings are header values.
function textOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function webhookHeadersOf(headers: RequestHeaders): WebhookHeaderValues {
  const family =
    WEBHOOK_HEADER_FAMILIES.find((prefix) =>
      ['id', 'timestamp', 'signature'].some((part) => textOf(headers[`${prefix}-${part}`]) !== undefined),
    ) ?? 'webhook';
  return {
    family,
    id: textOf(headers[`${family}-id`]),
    timestamp: textOf(headers[`${family}-timestamp`]),
    signature: textOf(headers[`${family}-signature`]),
  };
}

const VERSION = /^v[0-9]+[a-z]*$/;

/**
 * The `version,signature` entries of a signature header. The specification separates entries with
 * spaces, but a header sent twice reaches Lambda joined with commas (`v1,A,v1,B`), so the header is
 * read as tokens separated by spaces or commas, taken in pairs from each version token on; a base64
 * signature holds neither separator.
 */
export function signatureEntriesOf(header: string): Array<{ version: string; signature: string }> {
  const tokens = header.split(/[\s,]/).filter((token) => token !== '');
  const entries: Array<{ version: string; signature: string }> = [];
  for (let index = 0; index < tokens.length - 1; index += 1) {
    const version = tokens[index] as string;
    if (!VERSION.test(version)) continue;
    entries.push({ version, signature: tokens[index + 1] as string });
    index += 1;
  }
  return entries;
}

const MAX_KEY_LENGTH = 128;
const PRINTABLE = /^[\x20-\x7e]+$/;

/**
 * The delivery id of a caller that cannot sign: the `Idempotency-Key` header of the IETF httpapi
 * draft, a structured-field string (`"8e03978e-..."`), or the bare token many clients send instead.
 */
export function idempotencyKeyOf(headers: RequestHeaders, routePath: string): string {
  const raw = textOf(headers['idempotency-key'])?.trim();
  if (raw === undefined || raw === '') {
    throw new HeaderError(
      `Idempotency-Key header is required on POST ${routePath}: one key per change, the same on every retry of it`,
    );
  }
  const quoted = /^"((?:[^"\\]|\\["\\])*)"$/.exec(raw);
  const key = quoted ? (quoted[1] as string).replace(/\\(["\\])/g, '$1') : raw;
  if (key.length > MAX_KEY_LENGTH || !PRINTABLE.test(key)) {
    throw new HeaderError(
      `Idempotency-Key header must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters, quoted ("...") or bare`,
    );
  }
  return key;
}
