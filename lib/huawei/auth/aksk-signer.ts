import { createHash, createHmac } from 'node:crypto';
import type { AkSkCredentials } from './credentials.ts';

/**
 * Huawei Cloud's AK/SK request signing ("SDK-HMAC-SHA256", the scheme of Huawei's API gateway), written
 * to give byte-for-byte the Authorization header of `AKSKSigner` in @huaweicloud/huaweicloud-sdk-core
 * (the tests compare the two), on node:crypto alone so the Lambda bundle carries no Huawei SDK.
 */

/** What signing needs of the credentials secret's AK/SK form (parsed in lib/huawei/auth/credentials.ts). */
export type SigningKeys = Pick<AkSkCredentials, 'accessKey' | 'secretKey' | 'securityToken'>;

export interface SignInput {
  /** Upper case, as sent. */
  method: string;
  /** The URL exactly as it will be requested: its path and query are signed as they go on the wire. */
  url: URL;
  /** Every header that will be sent besides `host` (which the HTTP client derives from `url.host`). */
  headers: Readonly<Record<string, string>>;
  body: string;
  /** Sent (and signed) as `X-Project-Id`, as the SDK's BasicCredentials does. */
  projectId?: string | undefined;
}

const ALGORITHM = 'SDK-HMAC-SHA256';

/** Headers the signer derives itself: a caller-supplied one would be signed twice or contradict ours. */
const SIGNER_OWNED = ['host', 'x-sdk-date', 'authorization', 'x-security-token'];

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The SDK's `urlEncode`: every byte of the UTF-8 form except A-Z a-z 0-9 `-_.~` becomes upper-case `%XX`.
 * encodeURIComponent also leaves `!'()*` alone, so those five are escaped on top.
 */
function encodeComponent(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * Each segment of the path as it goes on the wire is encoded once more (an `%2F` in a segment is signed as
 * `%252F`): the SDK signs its already-encoded path this way, and a receiver can only start from the raw path.
 */
function canonicalUri(pathname: string): string {
  const encoded = pathname.split('/').map(encodeComponent).join('/');
  return encoded.endsWith('/') ? encoded : `${encoded}/`;
}

/**
 * Parameters are decoded (`+` read as a space, as form decoders do; the SDK itself never sends a raw `+`)
 * and sorted by key, then value, before encoding — the SDK sorts its decoded parameters, not the encoded text.
 */
function canonicalQueryString(searchParams: URLSearchParams): string {
  const valuesByKey = new Map<string, string[]>();
  for (const [key, value] of searchParams) {
    const values = valuesByKey.get(key);
    if (values) values.push(value);
    else valuesByKey.set(key, [value]);
  }
  return [...valuesByKey.keys()]
    .sort()
    .flatMap((key) =>
      (valuesByKey.get(key) ?? []).sort().map((value) => `${encodeComponent(key)}=${encodeComponent(value)}`),
    )
    .join('&');
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** YYYYMMDDTHHmmssZ in UTC, the only form the gateway accepts in `X-Sdk-Date`. */
function sdkDate(now: Date): string {
  if (Number.isNaN(now.getTime())) throw new TypeError('now must be a valid Date');
  return `${now.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

function checkInput(credentials: SigningKeys, input: SignInput): void {
  if (typeof credentials.accessKey !== 'string' || credentials.accessKey === '')
    throw new TypeError('credentials.accessKey must be a non-empty string');
  if (typeof credentials.secretKey !== 'string' || credentials.secretKey === '')
    throw new TypeError('credentials.secretKey must be a non-empty string');
  if (!/^[A-Z]+$/.test(input.method)) throw new TypeError('method must be an upper-case HTTP method');
  // The only two characters a URL sends raw in a path that the SDK (through url.parse) signs escaped: the
  // gateway can read them either way, so they must arrive already percent-encoded to leave no doubt.
  if (/['|]/.test(input.url.pathname))
    throw new TypeError("url path must have ' and | percent-encoded (%27, %7C)");
}

/** Lower-cased names, trimmed values: what a receiving HTTP parser hands the gateway. */
function lowerCaseHeaders(headers: Readonly<Record<string, string>>): Map<string, string> {
  const lowered = new Map<string, string>();
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lowered.has(lower))
      throw new TypeError(`headers.${lower} is given more than once (names differ only in case)`);
    if (SIGNER_OWNED.includes(lower))
      throw new TypeError(`headers.${lower} is set by the signer; leave it out`);
    lowered.set(lower, value.trim());
  }
  return lowered;
}

/**
 * Signs one request and returns the headers to add to it (lower-case names): `x-sdk-date`,
 * `authorization`, `x-project-id` when `projectId` is given and `x-security-token` when the credentials
 * carry one. Every header passed in, `host` (from `url.host`) and the added ones are signed — the SDK
 * signs whatever the request carries at signing time, and the gateway checks the names the
 * Authorization header lists. The secret key is used as the HMAC key only: it is in no header or error.
 */
export function signRequest(credentials: SigningKeys, input: SignInput, now: Date): Record<string, string> {
  checkInput(credentials, input);
  const headers = lowerCaseHeaders(input.headers);
  const added: Record<string, string> = { 'x-sdk-date': sdkDate(now) };
  if (input.projectId !== undefined) {
    const given = headers.get('x-project-id');
    if (given !== undefined && given !== input.projectId)
      throw new TypeError('headers.x-project-id differs from projectId');
    added['x-project-id'] = input.projectId;
  }
  if (credentials.securityToken) added['x-security-token'] = credentials.securityToken;

  const signed = new Map(headers);
  signed.set('host', input.url.host);
  for (const [name, value] of Object.entries(added)) signed.set(name, value);
  const names = [...signed.keys()].sort(byCodeUnit);
  const signedHeaders = names.join(';');
  const canonicalHeaders = names.map((name) => `${name}:${signed.get(name)}\n`).join('');
  // The SDK lets a caller declare the payload hash (`UNSIGNED-PAYLOAD` for streamed uploads); the gateway honours it.
  const payloadHash = signed.get('x-sdk-content-sha256') ?? sha256Hex(input.body);

  const canonicalRequest = [
    input.method,
    canonicalUri(input.url.pathname),
    canonicalQueryString(input.url.searchParams),
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const stringToSign = [ALGORITHM, added['x-sdk-date'], sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', credentials.secretKey).update(stringToSign, 'utf8').digest('hex');

  return {
    ...added,
    authorization: `${ALGORITHM} Access=${credentials.accessKey}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
}
