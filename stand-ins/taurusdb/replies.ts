import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendJson } from '../loopback-server.ts';

/** One answer the stand-in sends: scripted by a test, or what its world dictates. */
export interface TaurusDbReply {
  /** Default 200. */
  status?: number;
  /** Sent as JSON, unless `text` is given. */
  body?: unknown;
  /** Sent as is, with the content type from `headers` (default text/plain). */
  text?: string;
  /** Bytes sent as is, which need not be valid UTF-8 (content type from `headers`, default JSON). */
  raw?: Uint8Array;
  headers?: Record<string, string>;
  /** Wait this long before the status line goes out. */
  delayMs?: number;
  /** Read the request, then destroy the connection without answering. */
  reset?: boolean;
}

/** The API reference's example ACCEPT item (the reference omits instance_id). */
export const SEED_ACCEPT_ITEM = {
  workflow_id: '375ac6a4-2788-4e45-83bf-8a9d2324317f',
  state: 'ACCEPT',
  error_message: null,
};

/** The API reference's example REJECT item. */
export const SEED_REJECT_ITEM = {
  workflow_id: '375ac6a4-2788-4e45-83be-8a9d2324327f',
  state: 'REJECT',
  error_message: 'Upgrade failed due to insufficient subnet ip',
};

/** Answers TaurusDB and the gateway in front of it give, as Huawei's API reference describes them. */
export const replies = {
  /** 200 with one ACCEPT item, in the API reference's shape. */
  accept: (item: Record<string, unknown> = {}): TaurusDbReply => ({
    body: { update_result: [{ ...SEED_ACCEPT_ITEM, ...item }] },
  }),
  /** 200 that still carries a failure. */
  reject: (errorMessage = SEED_REJECT_ITEM.error_message): TaurusDbReply => ({
    body: { update_result: [{ ...SEED_REJECT_ITEM, error_message: errorMessage }] },
  }),
  /** The API reference's example answer, both items. */
  seedExample: (): TaurusDbReply => ({ body: { update_result: [SEED_ACCEPT_ITEM, SEED_REJECT_ITEM] } }),
  /** 200 with whatever items are given (to play missing or null fields). */
  items: (...items: unknown[]): TaurusDbReply => ({ body: { update_result: items } }),
  /** DBS-style error body. */
  error: (status: number, errorCode: string, errorMsg: string): TaurusDbReply => ({
    status,
    body: { error_code: errorCode, error_msg: errorMsg },
  }),
  /** The `{"error": {"code", "message"}}` shape some gateways answer with. */
  gatewayError: (status: number, code: string, message: string): TaurusDbReply => ({
    status,
    body: { error: { code, message } },
  }),
  /** The instance runs another operation (Huawei's tables: 409; DBS.201205 is "backup in progress"). */
  busy: (errorCode = 'DBS.201205', status = 409): TaurusDbReply =>
    replies.error(status, errorCode, 'The instance is being backed up. Try again later.'),
  alreadyLatest: (): TaurusDbReply => replies.error(400, 'DBS.05000008', 'the current version is the latest'),
  serverError: (): TaurusDbReply => replies.error(500, 'DBS.05000000', 'Server failure.'),
  badGatewayHtml: (): TaurusDbReply => ({
    status: 502,
    text: '<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>',
    headers: { 'content-type': 'text/html' },
  }),
  /** APIGW throttling; `retryAfter` is the raw header value (seconds or HTTP-date), omitted when undefined. */
  throttled: (retryAfter?: string): TaurusDbReply => ({
    status: 429,
    body: {
      error_code: 'APIGW.0308',
      error_msg: 'The throttling threshold has been reached',
      request_id: 'r-429',
    },
    ...(retryAfter === undefined ? {} : { headers: { 'retry-after': retryAfter } }),
  }),
  unauthorized: (): TaurusDbReply => ({
    status: 401,
    body: {
      error_code: 'APIGW.0301',
      error_msg: 'Incorrect IAM authentication information: verify aksk signature fail',
    },
  }),
  /** `then`, but only after `delayMs`. */
  slow: (delayMs: number, then: TaurusDbReply = replies.accept()): TaurusDbReply => ({ ...then, delayMs }),
  reset: (): TaurusDbReply => ({ reset: true }),
  nonJson: (status = 200, text = 'upgrade accepted', contentType = 'text/plain'): TaurusDbReply => ({
    status,
    text,
    headers: { 'content-type': contentType },
  }),
  empty: (status = 200): TaurusDbReply => ({ status, text: '', headers: {} }),
  /** JSON, but no update_result array. */
  malformed200: (): TaurusDbReply => ({ body: { result: 'ok', update_result: 'ACCEPT' } }),
};

/** What went out: the status and the body (JSON value, or the text; raw bytes are summarised). */
export interface SentReply {
  status: number;
  answer: unknown;
}

/**
 * Sends `reply`, after its delay unless `closing` aborts first. Undefined when nothing was answered
 * (a reset, or a caller that went away meanwhile). Every answer carries an X-Request-Id, as Huawei's
 * gateway sends one; a reply's own headers win.
 */
export async function sendReply(
  reply: TaurusDbReply,
  response: ServerResponse,
  raw: IncomingMessage,
  closing: AbortSignal,
): Promise<SentReply | undefined> {
  if (reply.delayMs !== undefined) {
    await sleep(reply.delayMs, undefined, { signal: closing }).catch(() => undefined);
  }
  if (reply.reset || response.destroyed || raw.socket.destroyed) {
    raw.socket.destroy();
    return undefined;
  }
  const status = reply.status ?? 200;
  const headers = { 'x-request-id': randomUUID().replaceAll('-', ''), ...reply.headers };
  if (reply.raw !== undefined) {
    response.writeHead(status, {
      'content-type': 'application/json',
      'content-length': reply.raw.byteLength,
      ...headers,
    });
    response.end(reply.raw);
    return { status, answer: `<${reply.raw.byteLength} bytes>` };
  }
  if (reply.text !== undefined) {
    response.writeHead(status, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(reply.text),
      ...headers,
    });
    response.end(reply.text);
    return { status, answer: reply.text };
  }
  const body = reply.body ?? {};
  sendJson(response, status, body, headers);
  return { status, answer: body };
}
