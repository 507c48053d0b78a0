import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { sendAkSkRejection, verifyAkSkRequest } from './aksk-verifier.ts';
import {
  type LoopbackServer,
  type RecordedRequest,
  sendJson,
  startLoopbackServer,
} from './loopback-server.ts';

/** One scripted answer to a well-formed upgrade request. */
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

/** The seed's example ACCEPT item (the seed omits instance_id). */
export const SEED_ACCEPT_ITEM = {
  workflow_id: '375ac6a4-2788-4e45-83bf-8a9d2324317f',
  state: 'ACCEPT',
  error_message: null,
};

/** The seed's example REJECT item. */
export const SEED_REJECT_ITEM = {
  workflow_id: '375ac6a4-2788-4e45-83be-8a9d2324327f',
  state: 'REJECT',
  error_message: 'Upgrade failed due to insufficient subnet ip',
};

/** Answers TaurusDB and the gateway in front of it give, as the seed and Huawei's docs describe them. */
export const replies = {
  /** 200 with one ACCEPT item, in the seed's shape. */
  accept: (item: Record<string, unknown> = {}): TaurusDbReply => ({
    body: { update_result: [{ ...SEED_ACCEPT_ITEM, ...item }] },
  }),
  /** 200 that still carries a failure. */
  reject: (errorMessage = SEED_REJECT_ITEM.error_message): TaurusDbReply => ({
    body: { update_result: [{ ...SEED_REJECT_ITEM, error_message: errorMessage }] },
  }),
  /** The seed's example answer, both items. */
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

/** A well-formed upgrade request as the stand-in understood it (ids decoded). */
export interface SeenUpgrade {
  projectId: string;
  instanceId: string;
  proxyId: string;
  token: string;
  language: string | undefined;
  sourceVersion: string;
  targetVersion: string;
}

export interface TaurusDbStandInOptions {
  /** X-Auth-Token values answered; any other token gets the gateway's 401. */
  acceptedTokens?: string[];
  /** Also accept a token this says is valid (e.g. one the IAM stand-in issued). */
  isAccepted?: (token: string) => boolean;
  /**
   * Also accept AK/SK-signed requests (`Authorization: SDK-HMAC-SHA256 …`), checked by the independent
   * verifier in aksk-verifier.ts; a bad one gets the gateway's 401 APIGW.0301.
   */
  akSk?: AkSkGateway;
}

export interface AkSkGateway {
  /** Secret key by access key; read on every request, so a test may change a Map meanwhile. */
  keys: Map<string, string> | Record<string, string>;
  /** The gateway's clock (default: the real one), to play a client clock that is off. */
  now?: () => Date;
}

export interface TaurusDbStandIn {
  /** Base URL, what TAURUSDB_ENDPOINT is set to. */
  url: string;
  server: LoopbackServer;
  /** Everything that crossed the wire, malformed requests included. */
  requests: RecordedRequest[];
  /** How many requests arrived on the upgrade route, however they were answered. */
  upgradeRequests(): number;
  /** Well-formed, authorised upgrade requests, in order (`token` is `aksk:<AK>` for a signed one). */
  upgrades: SeenUpgrade[];
  /** TCP connections accepted in all. */
  connections(): number;
  acceptToken(token: string): void;
  /** What `GET .../taurusproxy/proxy-version` answers for a proxy (default: 2.23.12.000, latest 2.24.03.000). */
  setProxyVersion(instanceId: string, proxyId: string, version: ProxyVersionState): void;
  /** The proxies `GET .../instances/{instance_id}/proxies` lists, paged by its offset and limit. */
  setProxies(instanceId: string, proxyIds: string[]): void;
  /**
   * What successive `GET /v3/{project_id}/jobs?id=` answer for a job: one state per read, the last one
   * repeating; `undefined` plays a job not visible yet (404). An unknown job is always 404.
   */
  setJob(jobId: string, ...states: Array<JobState | undefined>): void;
  /** The next reads (any GET) get these answers instead, in order. */
  scriptRead(...answers: TaurusDbReply[]): void;
  /** GET requests received on a route ('version', 'proxies', 'jobs'), however they were answered. */
  reads(route?: ReadRoute): number;
  /** The next well-formed upgrade requests get these answers, in order; then the seed's ACCEPT again. */
  script(...answers: TaurusDbReply[]): void;
  /**
   * Called with each well-formed upgrade request as it arrives, before it is answered (undefined
   * removes the hook): a test can act at the moment TaurusDB has the POST (kill the caller's process,
   * move the proxy's version), answer per proxy, or `'no-answer'` to leave the request unanswered.
   * A hook that returns undefined leaves the answer to the script.
   */
  onUpgrade(hook: UpgradeHook | undefined): void;
  close(): Promise<void>;
}

/** See `TaurusDbStandIn.onUpgrade`. */
export type UpgradeHook = (upgrade: SeenUpgrade) => TaurusDbReply | 'no-answer' | undefined;

export interface ProxyVersionState {
  current_version: string;
  latest_version: string;
  can_upgrade: boolean;
}

export interface JobState {
  status: 'Pending' | 'Running' | 'Completed' | 'Failed';
  fail_reason?: string | null;
}

export type ReadRoute = 'version' | 'proxies' | 'jobs';

const DEFAULT_VERSION: ProxyVersionState = {
  current_version: '2.23.12.000',
  latest_version: '2.24.03.000',
  can_upgrade: true,
};

const READ_ROUTES: Record<ReadRoute, RegExp> = {
  version: /^\/v3\/([^/?#]+)\/instances\/([^/?#]+)\/proxy\/([^/?#]+)\/taurusproxy\/proxy-version$/,
  proxies: /^\/v3\/([^/?#]+)\/instances\/([^/?#]+)\/proxies(\?.*)?$/,
  jobs: /^\/v3\/([^/?#]+)\/jobs\?(.*)$/,
};

const UPGRADE_ROUTE = /^\/v3\/([^/?#]+)\/instances\/([^/?#]+)\/proxy\/([^/?#]+)\/upgrade-version$/;
const LANGUAGES = new Set(['en-us', 'zh-cn']);

function dbsError(message: string) {
  // DBS.200001 is TaurusDB's "Parameter error."; the detail says what the stand-in objected to.
  return { error_code: 'DBS.200001', error_msg: `Parameter error. (stand-in: ${message})` };
}

/** What is wrong with the body, or undefined when it is exactly `{source_version, target_version}`. */
function bodyProblem(text: string): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'body is not JSON';
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'body is not a JSON object';
  const keys = Object.keys(body).sort();
  if (keys.join(',') !== 'source_version,target_version')
    return `body keys must be exactly source_version and target_version, got ${keys.join(', ') || 'none'}`;
  for (const key of keys) {
    const value = (body as Record<string, unknown>)[key];
    if (typeof value !== 'string' || value === '') return `${key} must be a non-empty string`;
  }
  return undefined;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * TaurusDB's `POST /v3/{project_id}/instances/{instance_id}/proxy/{proxy_id}/upgrade-version` on
 * 127.0.0.1. Checks the route, the token or (with `akSk`) the request signature (401 APIGW.0301 like
 * the gateway), content type, X-Language and the exact body against the seed, answering 400 DBS.200001
 * to a malformed request; a well-formed one gets the next scripted reply, or the seed's ACCEPT answer.
 */
export async function startTaurusDbStandIn(options: TaurusDbStandInOptions = {}): Promise<TaurusDbStandIn> {
  const acceptedTokens = new Set(options.acceptedTokens ?? []);
  const script: TaurusDbReply[] = [];
  const upgrades: SeenUpgrade[] = [];
  const closing = new AbortController();
  let akSkRequests = 0;

  /** Who the request is authorised as, or undefined once it was answered 401. */
  function authorisedAs(request: RecordedRequest, response: ServerResponse): string | undefined {
    const authorization = headerText(request.headers.authorization);
    if (options.akSk && authorization?.startsWith('SDK-HMAC-SHA256 ')) {
      const { keys, now } = options.akSk;
      const verdict = verifyAkSkRequest(request, {
        secretKeyFor: (accessKey) =>
          keys instanceof Map
            ? keys.get(accessKey)
            : Object.hasOwn(keys, accessKey)
              ? keys[accessKey]
              : undefined,
        ...(now ? { now } : {}),
      });
      akSkRequests += 1;
      if (verdict.ok) return `aksk:${verdict.accessKey}`;
      sendAkSkRejection(response, verdict, `stand-in-aksk-${akSkRequests}`);
      return undefined;
    }
    const token = headerText(request.headers['x-auth-token']);
    if (token !== undefined && (acceptedTokens.has(token) || options.isAccepted?.(token))) return token;
    sendJson(response, 401, {
      error_code: 'APIGW.0301',
      error_msg: 'Incorrect IAM authentication information: decrypt token fail',
    });
    return undefined;
  }

  const versions = new Map<string, ProxyVersionState>();
  const proxyLists = new Map<string, string[]>();
  const jobs = new Map<string, Array<JobState | undefined>>();
  const readScript: TaurusDbReply[] = [];
  let upgradeHook: UpgradeHook | undefined;

  async function answer(reply: TaurusDbReply, response: ServerResponse, raw: { socket: Socket }) {
    if (reply.delayMs !== undefined) {
      await sleep(reply.delayMs, undefined, { signal: closing.signal }).catch(() => undefined);
    }
    if (reply.reset || response.destroyed || raw.socket.destroyed) {
      raw.socket.destroy();
      return;
    }
    if (reply.raw !== undefined) {
      response.writeHead(reply.status ?? 200, {
        'content-type': 'application/json',
        'content-length': reply.raw.byteLength,
        ...reply.headers,
      });
      response.end(reply.raw);
      return;
    }
    if (reply.text !== undefined) {
      response.writeHead(reply.status ?? 200, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(reply.text),
        ...reply.headers,
      });
      response.end(reply.text);
      return;
    }
    sendJson(response, reply.status ?? 200, reply.body ?? {}, reply.headers);
  }

  /** The TaurusDB read APIs of DESIGN.md "Related APIs", answered from the state tests set. */
  function readAnswer(route: ReadRoute, match: RegExpExecArray): TaurusDbReply {
    const decoded = match.slice(1).map((part) => (part === undefined ? '' : decodeURIComponent(part)));
    if (route === 'version') {
      const [, instance = '', proxy = ''] = decoded;
      return { body: versions.get(`${instance}/${proxy}`) ?? DEFAULT_VERSION };
    }
    if (route === 'proxies') {
      const [, instance = ''] = decoded;
      const query = new URLSearchParams((match[3] ?? '').replace(/^\?/, ''));
      const offset = Number(query.get('offset') ?? '0');
      const limit = Number(query.get('limit') ?? '100');
      const all = proxyLists.get(instance) ?? [];
      const page = all.slice(offset, offset + limit);
      return {
        body: {
          proxy_list: page.map((id, index) => ({
            proxy: { pool_id: id, name: `proxy-${offset + index + 1}`, status: 'ACTIVE' },
          })),
          total_count: all.length,
        },
      };
    }
    const id = new URLSearchParams(match[2] ?? '').get('id') ?? '';
    const states = jobs.get(id);
    const state = states && states.length > 1 ? states.shift() : states?.[0];
    if (state === undefined) return replies.error(404, 'DBS.200823', 'The job does not exist.');
    return {
      body: {
        job: {
          id,
          name: 'UpgradeProxyVersion',
          status: state.status,
          created: '2026-11-27T10:00:00+0000',
          ended:
            state.status === 'Completed' || state.status === 'Failed' ? '2026-11-27T10:05:00+0000' : null,
          fail_reason: state.fail_reason ?? null,
        },
      },
    };
  }

  const server = await startLoopbackServer(async (request, response, raw) => {
    if (request.method === 'GET') {
      for (const [route, pattern] of Object.entries(READ_ROUTES) as Array<[ReadRoute, RegExp]>) {
        const match = pattern.exec(request.url);
        if (!match) continue;
        if (authorisedAs(request, response) === undefined) return;
        await answer(readScript.shift() ?? readAnswer(route, match), response, raw);
        return;
      }
    }
    const route = request.method === 'POST' ? UPGRADE_ROUTE.exec(request.url) : null;
    if (!route) {
      sendJson(response, 404, {
        error_code: 'APIGW.0101',
        error_msg: `The API does not exist or has not been published in the environment (${request.method} ${request.url})`,
      });
      return;
    }
    const token = authorisedAs(request, response);
    if (token === undefined) return;
    const contentType = headerText(request.headers['content-type']) ?? '';
    const language = headerText(request.headers['x-language']);
    const problem = !/^application\/json\s*(;|$)/i.test(contentType)
      ? `Content-Type must be application/json, got ${contentType || 'none'}`
      : language !== undefined && !LANGUAGES.has(language)
        ? `X-Language must be en-us or zh-cn, got ${language}`
        : bodyProblem(request.body);
    if (problem !== undefined) {
      sendJson(response, 400, dbsError(problem));
      return;
    }
    const [, project = '', instance = '', proxy = ''] = route;
    const body = JSON.parse(request.body) as { source_version: string; target_version: string };
    upgrades.push({
      projectId: decodeURIComponent(project),
      instanceId: decodeURIComponent(instance),
      proxyId: decodeURIComponent(proxy),
      token,
      language,
      sourceVersion: body.source_version,
      targetVersion: body.target_version,
    });
    const hooked = upgradeHook?.(upgrades[upgrades.length - 1] as SeenUpgrade);
    // Left open: the caller's socket (or process) ends it, or close() does.
    if (hooked === 'no-answer') return;
    await answer(hooked ?? script.shift() ?? replies.accept(), response, raw);
  });

  return {
    url: server.url,
    server,
    requests: server.requests,
    upgradeRequests: () =>
      server.requests.filter((request) => request.method === 'POST' && UPGRADE_ROUTE.test(request.url))
        .length,
    upgrades,
    connections: () => server.connections(),
    acceptToken(token) {
      acceptedTokens.add(token);
    },
    setProxyVersion(instanceId, proxyId, version) {
      versions.set(`${instanceId}/${proxyId}`, version);
    },
    setProxies(instanceId, proxyIds) {
      proxyLists.set(instanceId, [...proxyIds]);
    },
    setJob(jobId, ...states) {
      jobs.set(jobId, states);
    },
    scriptRead(...answers) {
      readScript.push(...answers);
    },
    reads: (route) =>
      server.requests.filter(
        (request) =>
          request.method === 'GET' &&
          (route === undefined
            ? Object.values(READ_ROUTES).some((pattern) => pattern.test(request.url))
            : READ_ROUTES[route].test(request.url)),
      ).length,
    script(...answers) {
      script.push(...answers);
    },
    onUpgrade(hook) {
      upgradeHook = hook;
    },
    close() {
      closing.abort();
      return server.close();
    },
  };
}

export interface ResettingServer {
  port: number;
  /** Connections accepted in all. */
  connections(): number;
  /** The first chunk each connection sent before it was reset. */
  received: Buffer[];
  close(): Promise<void>;
}

/**
 * A raw TCP server that reads the first chunk a client sends and then resets the connection. Over
 * plain HTTP that chunk is the request itself (a reset *after* the request was written); for an
 * https:// URL it is the TLS ClientHello, so the reset comes *before* any request byte was written.
 */
export async function startResettingServer(): Promise<ResettingServer> {
  const sockets = new Set<Socket>();
  const received: Buffer[] = [];
  let connectionCount = 0;
  const server: Server = createServer((socket) => {
    connectionCount += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (chunk) => {
      received.push(chunk);
      socket.resetAndDestroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connectionCount,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port nothing listens on (it was bound, then released), for connection-refused cases. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
