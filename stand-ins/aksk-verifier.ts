import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { sendJson } from './loopback-server.ts';

/**
 * The receiving side of Huawei's AK/SK scheme, as a stand-in for Huawei's API gateway: it recomputes the
 * signature from what arrived on the socket. Written from the published scheme, independently of
 * lib/huawei/auth/aksk-signer.ts (it must not import it), so that the two agreeing means something.
 */

export interface ReceivedRequest {
  method: string;
  /** Path and query as received, undecoded (`RecordedRequest.url`). */
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface AkSkVerifierOptions {
  /** The secret key of an access key, undefined for an unknown one. */
  secretKeyFor: (accessKey: string) => string | undefined;
  /** The gateway's clock. */
  now?: () => Date;
  maxSkewMs?: number;
}

export type AkSkRejection =
  | 'missing-authorization'
  | 'malformed-authorization'
  | 'unknown-access-key'
  | 'bad-date'
  | 'stale-date'
  | 'bad-signature';

export type AkSkVerdict =
  | { ok: true; accessKey: string }
  | { ok: false; reason: AkSkRejection; detail: string };

const FIFTEEN_MINUTES = 15 * 60_000;
const UNRESERVED = /[A-Za-z0-9\-_.~]/;

function percentEncode(text: string): string {
  let out = '';
  for (const char of text) {
    if (UNRESERVED.test(char)) {
      out += char;
      continue;
    }
    for (const byte of Buffer.from(char, 'utf8'))
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function decodeFormComponent(text: string): string {
  return decodeURIComponent(text.replaceAll('+', ' '));
}

function canonicalQuery(rawQuery: string): string {
  const pairs: [string, string][] = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const equals = part.indexOf('=');
    const key = equals === -1 ? part : part.slice(0, equals);
    const value = equals === -1 ? '' : part.slice(equals + 1);
    pairs.push([decodeFormComponent(key), decodeFormComponent(value)]);
  }
  pairs.sort(([keyA, valueA], [keyB, valueB]) =>
    keyA !== keyB ? (keyA < keyB ? -1 : 1) : valueA < valueB ? -1 : valueA > valueB ? 1 : 0,
  );
  return pairs.map(([key, value]) => `${percentEncode(key)}=${percentEncode(value)}`).join('&');
}

function canonicalPath(rawPath: string): string {
  const path = rawPath
    .split('/')
    .map((segment) => percentEncode(segment))
    .join('/');
  return path.endsWith('/') ? path : `${path}/`;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value.join(',') : value).trim();
}

const AUTHORIZATION =
  /^SDK-HMAC-SHA256 Access=([^,\s]+), SignedHeaders=([a-z0-9\-_;]+), Signature=([0-9a-f]{64})$/;
const SDK_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

function parseSdkDate(text: string): Date | undefined {
  const match = SDK_DATE.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match.map(Number) as number[];
  return new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day, hour, minute, second));
}

const reject = (reason: AkSkRejection, detail: string): AkSkVerdict => ({ ok: false, reason, detail });

export function verifyAkSkRequest(request: ReceivedRequest, options: AkSkVerifierOptions): AkSkVerdict {
  const authorization = headerValue(request.headers, 'authorization');
  if (authorization === undefined) return reject('missing-authorization', 'Authorization not found');
  const match = AUTHORIZATION.exec(authorization);
  if (!match) return reject('malformed-authorization', 'Authorization is not SDK-HMAC-SHA256');
  const [, accessKey = '', signedHeaderList = '', signature = ''] = match;
  const signedNames = signedHeaderList.split(';');
  if (!signedNames.includes('host') || !signedNames.includes('x-sdk-date'))
    return reject('malformed-authorization', 'host and x-sdk-date must be signed');

  const sdkDate = headerValue(request.headers, 'x-sdk-date') ?? '';
  const date = parseSdkDate(sdkDate);
  if (!date) return reject('bad-date', 'X-Sdk-Date is not YYYYMMDDTHHmmssZ');
  const now = options.now?.() ?? new Date();
  if (Math.abs(now.getTime() - date.getTime()) > (options.maxSkewMs ?? FIFTEEN_MINUTES))
    return reject('stale-date', 'X-Sdk-Date is more than 15 minutes off');

  const secretKey = options.secretKeyFor(accessKey);
  if (secretKey === undefined) return reject('unknown-access-key', 'Get secretKey failed, err:ak not exist');

  const headerLines: string[] = [];
  for (const name of signedNames) {
    const value = headerValue(request.headers, name);
    if (value === undefined) return reject('bad-signature', `signed header ${name} was not received`);
    headerLines.push(`${name}:${value}\n`);
  }
  const queryAt = request.url.indexOf('?');
  const rawPath = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
  const rawQuery = queryAt === -1 ? '' : request.url.slice(queryAt + 1);
  let query: string;
  try {
    query = canonicalQuery(rawQuery);
  } catch {
    return reject('bad-signature', 'query string is not decodable');
  }
  // A declared payload hash (the SDK's UNSIGNED-PAYLOAD) counts only when the signature covers it.
  const declaredHash = signedNames.includes('x-sdk-content-sha256')
    ? headerValue(request.headers, 'x-sdk-content-sha256')
    : undefined;
  const payloadHash =
    declaredHash ?? createHash('sha256').update(Buffer.from(request.body, 'utf8')).digest('hex');
  const canonicalRequest = `${request.method}\n${canonicalPath(rawPath)}\n${query}\n${headerLines.join('')}\n${signedHeaderList}\n${payloadHash}`;
  const stringToSign = `SDK-HMAC-SHA256\n${sdkDate}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
  const expected = createHmac('sha256', secretKey).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex')))
    return reject('bad-signature', 'verify aksk signature fail');
  return { ok: true, accessKey };
}

/** The body Huawei's gateway answers a rejected request with (status 401). */
export function akSkRejectionBody(verdict: AkSkVerdict & { ok: false }, requestId: string) {
  return {
    error_msg: `Incorrect IAM authentication information: ${verdict.detail}`,
    error_code: 'APIGW.0301',
    request_id: requestId,
  };
}

/** Answers a rejected request the way Huawei's gateway does: 401 with APIGW.0301. */
export function sendAkSkRejection(
  response: ServerResponse,
  verdict: AkSkVerdict & { ok: false },
  requestId: string,
) {
  sendJson(response, 401, akSkRejectionBody(verdict, requestId));
}
