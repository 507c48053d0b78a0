/**
 * The one HTTP transport of the Huawei clients (TaurusDB and IAM): keep-alive connection pools, one
 * request sent and its answer read up to a cap, and whether a failed request had been written.
 *
 * The pools are made by the composition root once per container and handed to every client, so warm
 * invocations reuse open TLS connections; a client given none makes its own.
 *
 * "Was it written". undici calls a handler's `onRequestStart` right before it writes the request onto a
 * connected socket; a failure before that call (connection refused, DNS failure, connect timeout, a
 * reset during the TLS handshake) proves nothing was sent. After it, nothing can be told: undici's
 * `onRequestSent` only says the bytes went to the kernel, not whether the server acted on them.
 *
 * A stale keep-alive connection needs no retry of ours: before reusing an idle socket undici lets a
 * pending FIN/RST be processed, and a request it had not started moves to a fresh connection.
 */
import { setImmediate } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { readBounded } from './bounded-read.ts';
import { Agent } from './undici-agent.ts';

/** What a pool is made with; clients with the same settings share it. */
export interface PoolSettings {
  connectMs: number;
  headersMs: number;
  bodyMs: number;
  /** How long an idle connection is kept; undici's default when absent (the server's hint still wins). */
  keepAliveMs?: number | undefined;
}

export interface ConnectionPools {
  /** The dispatcher for these settings: an undici Agent, which keeps one keep-alive pool per origin. */
  dispatcherFor(settings: PoolSettings): Dispatcher;
  /** Closes every pool (tests; a Lambda container simply ends). */
  close(): Promise<void>;
}

/**
 * Keep-alive pools, one Agent per set of settings. Keyed by the settings only because tests use short
 * timeouts: in production the TaurusDB client and the IAM client each use one.
 */
export function createConnectionPools(): ConnectionPools {
  const agents = new Map<string, Agent>();
  return {
    dispatcherFor(settings) {
      const key = `${settings.connectMs}/${settings.headersMs}/${settings.bodyMs}/${settings.keepAliveMs ?? ''}`;
      let agent = agents.get(key);
      if (agent === undefined) {
        agent = new Agent({
          connectTimeout: settings.connectMs,
          headersTimeout: settings.headersMs,
          bodyTimeout: settings.bodyMs,
          ...(settings.keepAliveMs === undefined ? {} : { keepAliveTimeout: settings.keepAliveMs }),
        });
        agents.set(key, agent);
      }
      return agent;
    },
    async close() {
      const open = [...agents.values()];
      agents.clear();
      await Promise.all(open.map((agent) => agent.close()));
    },
  };
}

/** One request on the wire; `path` is already encoded and may carry a query. */
export interface WireRequest {
  origin: string;
  path: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: string | null;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Largest body read; a larger one is refused unread (lib/huawei/bounded-read.ts). */
  maxBodyBytes: number;
  signal?: AbortSignal | undefined;
}

/** An answer as read: the body as text, or `tooLarge` with no text. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  contentType: string | undefined;
  body: string;
  tooLarge: boolean;
}

/** What one send came to: an answer, or a failure and whether the request had been written by then. */
export type Sent =
  | { kind: 'answered'; answer: Answer }
  | { kind: 'failed'; error: unknown; written: boolean };

/** Sends once and reads the answer; never throws (a failure is a `Sent` of kind `failed`). */
export async function send(dispatcher: Dispatcher, request: WireRequest): Promise<Sent> {
  let written = false;
  const noteWrite: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) =>
    dispatch(
      opts,
      forwardingHandler(handler, () => {
        written = true;
      }),
    );
  try {
    const response = await dispatcher.compose(noteWrite).request({
      origin: request.origin,
      path: request.path,
      method: request.method,
      headers: request.headers,
      body: request.body,
      headersTimeout: request.headersTimeoutMs,
      bodyTimeout: request.bodyTimeoutMs,
      signal: request.signal,
    });
    const { text, tooLarge } = await readBounded(response.body, request.maxBodyBytes);
    // undici holds a just-freed keep-alive socket back until the next check phase (it first reads any
    // FIN/RST already pending on it); a request dispatched before then opens a second connection.
    // One turn of the event loop lets the caller's next call reuse this one.
    await setImmediate();
    const contentType = response.headers['content-type'];
    const answer: Answer = {
      status: response.statusCode,
      headers: response.headers,
      contentType: Array.isArray(contentType) ? contentType[0] : contentType,
      body: text,
      tooLarge,
    };
    return { kind: 'answered', answer };
  } catch (error) {
    return { kind: 'failed', error, written };
  }
}

/**
 * The name of a transport failure for messages and retry decisions: undici's and Node's code
 * (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT…) first, since their names are generic and their codes
 * precise, else the error's name. Such errors describe the socket, never the request.
 */
export function socketErrorName(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    return error.name;
  }
  return 'unknown error';
}

/** Passes every callback through, noting when undici is about to write the request. */
function forwardingHandler(
  handler: Dispatcher.DispatchHandler,
  onStart: () => void,
): Dispatcher.DispatchHandler {
  return {
    onRequestStart(controller, context) {
      onStart();
      handler.onRequestStart?.(controller, context);
    },
    onRequestUpgrade: (controller, statusCode, headers, socket) =>
      handler.onRequestUpgrade?.(controller, statusCode, headers, socket),
    onResponseStarted: () => handler.onResponseStarted?.(),
    onResponseStart: (controller, statusCode, headers, statusMessage) =>
      handler.onResponseStart?.(controller, statusCode, headers, statusMessage),
    onResponseData: (controller, chunk) => handler.onResponseData?.(controller, chunk),
    onResponseEnd: (controller, trailers) => handler.onResponseEnd?.(controller, trailers),
    onResponseError: (controller, error) => handler.onResponseError?.(controller, error),
    onRequestSent: () => handler.onRequestSent?.(),
  };
}
