/**
 * TaurusDB API client: the "upgrade proxy kernel version" call, over one keep-alive connection pool
 * per container.
 *
 * Retry policy. The upgrade POST is not idempotent: a second copy that reaches TaurusDB may start a
 * second upgrade. So a call is sent again only when the first copy provably did not run:
 * - The request never reached a connection: connection refused, DNS failure (ENOTFOUND, EAI_AGAIN),
 *   connect timeout, a connection reset during the TLS handshake. undici calls a handler's
 *   `onRequestStart` right before it writes the request onto a connected socket; a failure before that
 *   call proves nothing was written. Retried with exponential backoff and full jitter.
 * - HTTP 429 (APIGW.0308): the gateway throttled the call before TaurusDB saw it. The wait is the
 *   `Retry-After` (seconds or HTTP-date) when given, else the backoff; when that wait does not fit in
 *   the budget left, the call fails at once instead of retrying earlier than the gateway asked.
 * - HTTP 401: once, straight away, after `authenticator.invalidate(projectId, rejectedHeaders)` and
 *   fresh headers (a 401 means the gateway refused the credentials before the upgrade ran). The
 *   authenticator shares one refresh among the 401s of a project, so a batch under 401s costs one
 *   secret re-read and one token exchange, not one each. A second 401 fails with an
 *   AuthenticationError. This retry does not count against the attempts below.
 * These retries share two bounds: `maxAttempts` attempts in all (default 3) and no retry starting later
 * than `retryBudgetMs` (default 8 s) after the first attempt started. Each attempt is itself bounded by
 * the connect/headers/body timeouts; a caller that must finish by a deadline (the Lambda's remaining
 * time) passes an AbortSignal.
 *
 * Never retried, each failing with an UpstreamError: a connection reset or closed once the request was
 * handed to the socket (undici's `onRequestSent` only says the bytes went to the kernel; whether
 * TaurusDB acted on them cannot be told apart from "it ran, then the connection died"); a headers or
 * body timeout (the request was sent); 5xx; other 4xx; a 200 that cannot be read; a caller abort.
 * Messages for the cases where the request was sent say that the upgrade may have started.
 *
 * Every upstream text this client returns (error_code, error_msg, the items of a 200, a job's
 * fail_reason) is scrubbed of the credentials in play (lib/huawei/auth/scrub.ts): those the authenticator holds and
 * those just sent. Answers are read up to `maxBodyBytes` (lib/huawei/bounded-read.ts).
 *
 * A stale keep-alive connection needs no retry of ours: before reusing an idle socket undici lets a
 * pending FIN/RST be processed, and a request it had not started moves to a fresh connection.
 *
 * Later GET calls (proxy version, proxy list, job status) are idempotent and can pass a wider policy
 * (5xx, failures after sending) to the same `exchange` loop.
 */
import { setTimeout as delay, setImmediate } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import * as z from 'zod';
import { AuthenticationError, UpstreamError, ValidationError } from '../errors.ts';
import {
  type BackoffOptions,
  backoffDelayMs,
  decideRetry,
  defaultBackoff,
  parseRetryAfterMs,
} from '../retry.ts';
import type { OutgoingRequest, RequestAuthenticator } from './auth/request-authenticator.ts';
import { createScrubber, type Scrubber, scrubDeep } from './auth/scrub.ts';
import { readBounded } from './bounded-read.ts';

export type Language = 'en-us' | 'zh-cn';

export interface UpgradeCall {
  projectId: string;
  instanceId: string;
  proxyId: string;
  sourceVersion: string;
  targetVersion: string;
  language?: Language | undefined;
}

export interface UpdateResultItem {
  instance_id: string | null;
  workflow_id: string | null;
  state: string | null;
  error_message: string | null;
}

export interface UpgradeResponse {
  status: number;
  items: UpdateResultItem[];
  /** Attempts made, the one after a 401 included. */
  attempts: number;
  durationMs: number;
}

export interface TaurusDbTimeouts {
  connectMs: number;
  headersMs: number;
  /** Longest silence while the answer's body arrives. */
  bodyMs: number;
  retryBudgetMs: number;
}

export interface TaurusDbClientOptions {
  /** Base URL, e.g. `https://gaussdb.eu-west-101.myhuaweicloud.com`. */
  endpoint: string;
  authenticator: RequestAuthenticator;
  timeouts?: Partial<TaurusDbTimeouts>;
  /** Defaults to the container-wide keep-alive agent (`sharedDispatcher`). */
  dispatcher?: Dispatcher;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Epoch milliseconds; also the clock `Retry-After` dates are read against. */
  now?: () => number;
  maxAttempts?: number;
  backoff?: Partial<BackoffOptions>;
}

export interface ProxyRef {
  projectId: string;
  instanceId: string;
  proxyId: string;
}

/** `GET .../proxy/{proxy_id}/taurusproxy/proxy-version`. */
export interface ProxyVersion {
  current_version: string;
  latest_version: string;
  can_upgrade: boolean;
}

/** One proxy of `GET .../instances/{instance_id}/proxies`: its id is `proxy.pool_id`. */
export interface ListedProxy {
  proxyId: string;
  name: string | null;
  status: string | null;
}

/** `GET /v3/{project_id}/jobs?id=` → `job`; status is Pending, Running, Completed or Failed. */
export interface JobStatus {
  id: string;
  name: string | null;
  status: string;
  created: string | null;
  ended: string | null;
  fail_reason: string | null;
}

export interface TaurusDbClient {
  upgradeProxyVersion(call: UpgradeCall, signal?: AbortSignal): Promise<UpgradeResponse>;
  getProxyVersion(proxy: ProxyRef, signal?: AbortSignal): Promise<ProxyVersion>;
  /** Every proxy of the instance, following `offset`/`limit` pages. */
  listProxies(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<ListedProxy[]>;
  /** The job, or undefined while TaurusDB does not know it yet (a new job may take seconds to appear). */
  getJob(projectId: string, jobId: string, signal?: AbortSignal): Promise<JobStatus | undefined>;
}

const defaults = {
  // Well under the 29 s API Gateway limit on the Lambda; lib/config.ts has the same defaults.
  timeouts: { connectMs: 3_000, headersMs: 10_000, bodyMs: 10_000, retryBudgetMs: 8_000 },
  maxAttempts: 3,
  // Longer than the gap between calls of one batch; the server's own Keep-Alive hint still wins.
  keepAliveMs: 10_000,
  // TaurusDB answers are a few hundred bytes; a far larger body is not an answer this client can use.
  maxBodyBytes: 64 * 1024,
  // Upstream texts go into errors and events: keep them bounded.
  maxTextChars: 300,
} as const;

const sharedAgents = new Map<string, Agent>();

/**
 * The keep-alive agent (one pool per origin) shared by every client in the container, so warm
 * invocations reuse open TLS connections. Keyed by the timeouts only because tests use short ones.
 */
export function sharedDispatcher(
  timeouts: Pick<TaurusDbTimeouts, 'connectMs' | 'headersMs' | 'bodyMs'> = defaults.timeouts,
): Dispatcher {
  const key = `${timeouts.connectMs}/${timeouts.headersMs}/${timeouts.bodyMs}`;
  let agent = sharedAgents.get(key);
  if (agent === undefined) {
    agent = new Agent({
      connectTimeout: timeouts.connectMs,
      headersTimeout: timeouts.headersMs,
      bodyTimeout: timeouts.bodyMs,
      keepAliveTimeout: defaults.keepAliveMs,
    });
    sharedAgents.set(key, agent);
  }
  return agent;
}

/** One request as the exchange loop sends it; `path` is already encoded. */
interface ApiRequest {
  method: 'GET' | 'POST';
  path: string;
  projectId: string;
  body?: string;
  language?: Language | undefined;
  /** What may have happened when a sent request got no readable answer, e.g. "the upgrade". */
  effect: string;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  contentType: string | undefined;
  body: string;
  tooLarge: boolean;
}

type Attempt = { kind: 'answered'; answer: Answer } | { kind: 'failed'; error: unknown; started: boolean };

interface RetryPolicy {
  /** Whether this outcome proves the request can be sent again without repeating an effect. */
  retryable(attempt: Attempt): boolean;
  /** Whether a failure after sending leaves an effect in doubt (shown in the error message). */
  idempotent: boolean;
}

const notIdempotent: RetryPolicy = {
  idempotent: false,
  retryable: (attempt) => (attempt.kind === 'answered' ? attempt.answer.status === 429 : !attempt.started),
};

// Reads change nothing: a 5xx, a timeout or a reset after sending is worth another try too.
const idempotent: RetryPolicy = {
  idempotent: true,
  retryable: (attempt) =>
    attempt.kind === 'answered' ? attempt.answer.status === 429 || attempt.answer.status >= 500 : true,
};

interface Exchanged {
  answer: Answer;
  attempts: number;
  /** Removes the credentials in play from any upstream text this client passes on. */
  redact: Scrubber;
}

const nullableText = z
  .string()
  .nullish()
  .transform((value) => value ?? null);

// The seed's own example omits instance_id; any of the four may be missing or null.
const upgradeAnswerSchema = z.object({
  update_result: z.array(
    z.object({
      instance_id: nullableText,
      workflow_id: nullableText,
      state: nullableText,
      error_message: nullableText,
    }),
  ),
});

const proxyVersionSchema = z.object({
  current_version: z.string().min(1),
  latest_version: z.string().min(1),
  can_upgrade: z.boolean(),
});

const proxyListSchema = z.object({
  proxy_list: z
    .array(
      z.object({
        proxy: z.object({ pool_id: z.string().min(1), name: nullableText, status: nullableText }),
      }),
    )
    .nullish()
    .transform((list) => list ?? []),
  total_count: z.number().int().nonnegative().nullish(),
});

const jobSchema = z.object({
  job: z.object({
    id: z.string().min(1),
    name: nullableText,
    status: z.string().min(1),
    created: nullableText,
    ended: nullableText,
    fail_reason: nullableText,
  }),
});

const PROXY_PAGE_SIZE = 100;
// A bound on paging: an instance has a handful of proxies; a TaurusDB that keeps answering full pages
// must not keep the invocation busy forever.
const MAX_PROXY_PAGES = 20;

const optionalText = z.string().nullish();
// DBS answers `{error_code, error_msg}`; some gateways answer `{error: {code, message}}`.
const errorBodySchema = z.union([
  z.object({ error_code: z.string(), error_msg: optionalText }),
  z.object({ error_msg: z.string(), error_code: optionalText }),
  z.object({ error: z.object({ code: optionalText, message: optionalText }) }),
]);

export function createTaurusDbClient(options: TaurusDbClientOptions): TaurusDbClient {
  const timeouts: TaurusDbTimeouts = { ...defaults.timeouts, ...options.timeouts };
  const dispatcher = options.dispatcher ?? sharedDispatcher(timeouts);
  const authenticator = options.authenticator;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const now = options.now ?? Date.now;
  const maxAttempts = options.maxAttempts ?? defaults.maxAttempts;
  const backoff: BackoffOptions = { ...defaultBackoff, ...options.backoff };
  const endpoint = new URL(options.endpoint);
  const origin = endpoint.origin;
  const basePath = endpoint.pathname.replace(/\/+$/, '');

  async function sendOnce(request: ApiRequest, headers: Record<string, string>, signal?: AbortSignal) {
    let started = false;
    const noteStart: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) =>
      dispatch(
        opts,
        forwardingHandler(handler, () => {
          started = true;
        }),
      );
    try {
      const response = await dispatcher.compose(noteStart).request({
        origin,
        path: basePath + request.path,
        method: request.method,
        headers,
        body: request.body ?? null,
        headersTimeout: timeouts.headersMs,
        bodyTimeout: timeouts.bodyMs,
        signal,
      });
      const { text, tooLarge } = await readBounded(response.body, defaults.maxBodyBytes);
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
      return { kind: 'answered', answer } satisfies Attempt;
    } catch (error) {
      return { kind: 'failed', error, started } satisfies Attempt;
    }
  }

  /** The request's headers, and apart the authenticator's own (handed back to it on a 401). */
  async function headersFor(request: ApiRequest) {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (request.body !== undefined) headers['content-type'] = 'application/json';
    if (request.language !== undefined) headers['x-language'] = request.language;
    const outgoing: OutgoingRequest = {
      method: request.method,
      url: new URL(origin + basePath + request.path),
      headers,
      body: request.body ?? '',
      projectId: request.projectId,
    };
    const auth = await authenticator.headersFor(outgoing);
    return { headers: { ...headers, ...auth }, auth };
  }

  /** The authenticator's credentials and the secret parts of the headers sent, as one scrubber. */
  function redactorOf(sent: Set<string>): Scrubber {
    const own = createScrubber(sent);
    const held = authenticator.redact;
    return held === undefined ? own : (text) => own(held(text));
  }

  async function exchange(
    request: ApiRequest,
    policy: RetryPolicy,
    signal?: AbortSignal,
  ): Promise<Exchanged> {
    const startedAt = now();
    const credentials = new Set<string>();
    let attempts = 0;
    let retries = 0;
    let reauthenticated = false;
    for (;;) {
      const { headers, auth } = await headersFor(request);
      for (const value of secretHeaderValues(auth)) credentials.add(value);
      attempts += 1;
      const attempt = await sendOnce(request, headers, signal);
      // A complete answer is used even if the caller gave up meanwhile: it says what happened.
      if (attempt.kind === 'failed' && signal?.aborted)
        throw abandoned(request, attempt.started, signal.reason);
      if (attempt.kind === 'answered' && attempt.answer.status === 401) {
        if (reauthenticated) throw refusedTwice(request, attempt.answer, headers, redactorOf(credentials));
        // The gateway refused the credentials before anything ran: fresh ones, once, no wait. The
        // headers go back so that a 401 to credentials already replaced costs no second refresh.
        await authenticator.invalidate(request.projectId, auth);
        reauthenticated = true;
        continue;
      }
      if (!policy.retryable(attempt)) return settle(request, policy, attempt, attempts, credentials);
      const retryAfterMs =
        attempt.kind === 'answered'
          ? parseRetryAfterMs(attempt.answer.headers['retry-after'], now())
          : undefined;
      const decision = decideRetry(
        {
          attemptsMade: attempts - (reauthenticated ? 1 : 0),
          elapsedMs: now() - startedAt,
          delayMs: retryAfterMs ?? backoffDelayMs(retries + 1, random, backoff),
        },
        { maxAttempts, budgetMs: timeouts.retryBudgetMs },
      );
      if (!decision.retry) return settle(request, policy, attempt, attempts, credentials);
      retries += 1;
      await sleep(decision.delayMs, signal).catch(() => undefined);
      // Only attempts that provably did not run get here.
      if (signal?.aborted) throw abandoned(request, false, signal.reason);
    }
  }

  function settle(
    request: ApiRequest,
    policy: RetryPolicy,
    attempt: Attempt,
    attempts: number,
    credentials: Set<string>,
  ): Exchanged {
    if (attempt.kind === 'answered')
      return { answer: attempt.answer, attempts, redact: redactorOf(credentials) };
    throw new UpstreamError(
      describeFailure(request, policy, attempt.error, attempt.started, attempts),
      { mayHaveRun: attempt.started },
      { cause: attempt.error },
    );
  }

  function describeFailure(
    request: ApiRequest,
    policy: RetryPolicy,
    error: unknown,
    started: boolean,
    attempts: number,
  ): string {
    const code = errorCode(error);
    const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
    if (!started) {
      const within = code === 'UND_ERR_CONNECT_TIMEOUT' ? ` within ${timeouts.connectMs} ms` : '';
      return `TaurusDB at ${origin} could not be reached${within} (${code})${tries}; nothing was sent`;
    }
    const doubt = policy.idempotent ? '' : `; ${request.effect} may have started`;
    if (code === 'UND_ERR_HEADERS_TIMEOUT')
      return `TaurusDB did not answer within ${timeouts.headersMs} ms${doubt}`;
    if (code === 'UND_ERR_BODY_TIMEOUT')
      return `TaurusDB stopped sending its answer for ${timeouts.bodyMs} ms${doubt}`;
    return `the connection to TaurusDB failed after the request was sent (${code})${doubt}`;
  }

  function abandoned(request: ApiRequest, mayHaveRun: boolean, reason: unknown): UpstreamError {
    const outcome = `${request.effect} ${mayHaveRun ? 'may have started' : 'was not started'}`;
    return new UpstreamError(
      `the TaurusDB call was abandoned by the caller; ${outcome}`,
      { mayHaveRun },
      { cause: reason },
    );
  }

  return {
    async upgradeProxyVersion(call, signal) {
      const startedAt = now();
      const request: ApiRequest = {
        method: 'POST',
        path: upgradePath(call),
        projectId: call.projectId,
        // Exactly these two keys, in this order: the API takes nothing else.
        body: JSON.stringify({ source_version: call.sourceVersion, target_version: call.targetVersion }),
        language: call.language,
        effect: 'the upgrade',
      };
      const { answer, attempts, redact } = await exchange(request, notIdempotent, signal);
      if (answer.status !== 200) throw errorFromAnswer(answer, attempts, redact);
      const items = scrubDeep(readUpgradeAnswer(answer), redact);
      return { status: 200, items, attempts, durationMs: now() - startedAt };
    },

    async getProxyVersion(proxy, signal) {
      const path = `${proxyPath(proxy)}/taurusproxy/proxy-version`;
      return read(
        proxyVersionSchema,
        { path, projectId: proxy.projectId, what: 'the proxy version' },
        signal,
      );
    },

    async listProxies(instance, signal) {
      const proxies: ListedProxy[] = [];
      for (let page = 0; page < MAX_PROXY_PAGES; page += 1) {
        const offset = page * PROXY_PAGE_SIZE;
        const path = `${instancePath(instance)}/proxies?offset=${offset}&limit=${PROXY_PAGE_SIZE}`;
        const answer = await read(
          proxyListSchema,
          { path, projectId: instance.projectId, what: 'the proxy list' },
          signal,
        );
        for (const { proxy } of answer.proxy_list) {
          proxies.push({ proxyId: proxy.pool_id, name: proxy.name, status: proxy.status });
        }
        const total = answer.total_count ?? undefined;
        const done =
          total === undefined ? answer.proxy_list.length < PROXY_PAGE_SIZE : proxies.length >= total;
        if (done || answer.proxy_list.length === 0) return proxies;
      }
      throw new UpstreamError(
        `TaurusDB listed more than ${MAX_PROXY_PAGES * PROXY_PAGE_SIZE} proxies for instance ${instance.instanceId}`,
        {},
      );
    },

    async getJob(projectId, jobId, signal) {
      const [project] = segments({ project_id: projectId });
      const path = `/v3/${project}/jobs?id=${encodeURIComponent(jobId)}`;
      try {
        return (await read(jobSchema, { path, projectId, what: 'the job' }, signal)).job;
      } catch (error) {
        // Huawei: a job may take a few seconds to become visible; until then the API answers 404
        // (or 400 with DBS.200823 / "job not found").
        if (
          error instanceof UpstreamError &&
          (error.status === 404 ||
            /job.*not (be )?found|DBS\.200823/i.test(`${error.errorCode} ${error.errorMsg}`))
        ) {
          return undefined;
        }
        throw error;
      }
    },
  };

  async function read<T>(
    schema: z.ZodType<T>,
    request: { path: string; projectId: string; what: string },
    signal?: AbortSignal,
  ): Promise<T> {
    const { answer, attempts, redact } = await exchange(
      { method: 'GET', path: request.path, projectId: request.projectId, effect: `reading ${request.what}` },
      idempotent,
      signal,
    );
    if (answer.status !== 200) throw errorFromAnswer(answer, attempts, redact);
    let json: unknown;
    try {
      json = answer.tooLarge ? undefined : JSON.parse(answer.body);
    } catch {
      // Not kept as the cause: the parser's message quotes the body.
    }
    const parsed = json === undefined ? undefined : schema.safeParse(json);
    // Every text of the answer (a job's fail_reason, names, statuses) may be passed on.
    if (parsed?.success) return scrubDeep(parsed.data, redact);
    const issue = parsed?.error.issues[0];
    const shape = issue
      ? `a body that is not ${request.what} (${issuePath(issue.path)}: ${issue.message})`
      : bodyProblem(answer);
    throw new UpstreamError(`TaurusDB answered 200 with ${shape}`, { status: 200, mayHaveRun: false });
  }
}

function upgradePath(call: UpgradeCall): string {
  return `${proxyPath(call)}/upgrade-version`;
}

function instancePath(ref: Omit<ProxyRef, 'proxyId'>): string {
  const [project, instance] = segments({ project_id: ref.projectId, instance_id: ref.instanceId });
  return `/v3/${project}/instances/${instance}`;
}

function proxyPath(ref: ProxyRef): string {
  const [project, instance, proxy] = segments({
    project_id: ref.projectId,
    instance_id: ref.instanceId,
    proxy_id: ref.proxyId,
  });
  return `/v3/${project}/instances/${instance}/proxy/${proxy}`;
}

/**
 * Encoded path segments, every bad one reported at once. encodeURIComponent leaves "." alone, and a
 * "." or ".." segment would be resolved away by any URL parser on the way, aiming the request at
 * another resource.
 */
function segments(values: Record<string, string>): string[] {
  const issues = Object.entries(values)
    .filter(([, value]) => value === '' || value === '.' || value === '..')
    .map(([path]) => ({ path, message: 'must be a non-empty id, not "." or ".."' }));
  if (issues.length > 0) throw new ValidationError(issues);
  return Object.values(values).map(encodeURIComponent);
}

/**
 * A malformed 200 keeps status 200 on the UpstreamError (it maps to HTTP 502): TaurusDB did answer
 * success, so the upgrade may well be running, and whoever reads the error must not take it for
 * "nothing happened". For the same reason it is never retried.
 */
function readUpgradeAnswer(answer: Answer): UpdateResultItem[] {
  const malformed = (what: string) =>
    new UpstreamError(`TaurusDB answered 200 with ${what}; the upgrade may have started`, { status: 200 });
  let json: unknown;
  try {
    json = answer.tooLarge ? undefined : JSON.parse(answer.body);
  } catch {
    // Not kept as the cause: the parser's message quotes the body.
  }
  if (json === undefined) throw malformed(bodyProblem(answer));
  const parsed = upgradeAnswerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw malformed(
      `a body that is not an upgrade result (${issue ? `${issuePath(issue.path)}: ${issue.message}` : 'unknown shape'})`,
    );
  }
  return parsed.data.update_result;
}

function errorFromAnswer(answer: Answer, attempts: number, redact: Scrubber): UpstreamError {
  const tries = attempts > 1 ? ` (after ${attempts} attempts)` : '';
  const details = readErrorBody(answer, redact);
  if (details === undefined) {
    return new UpstreamError(`TaurusDB answered ${answer.status} with ${bodyProblem(answer)}${tries}`, {
      status: answer.status,
      mayHaveRun: answer.status !== 429,
    });
  }
  const said = [details.errorCode, details.errorMsg].filter(Boolean).join(': ');
  return new UpstreamError(`TaurusDB answered ${answer.status} ${said}${tries}`, {
    status: answer.status,
    // The gateway throttles before TaurusDB sees the call.
    mayHaveRun: answer.status !== 429,
    ...details,
  });
}

function refusedTwice(
  request: ApiRequest,
  answer: Answer,
  sentHeaders: Record<string, string>,
  redact: Scrubber,
): AuthenticationError {
  const details = readErrorBody(answer, redact);
  const said = [details?.errorCode, details?.errorMsg].filter(Boolean).join(': ');
  // An AK/SK signature carries its own time (X-Sdk-Date) and the gateway refuses one more than 15
  // minutes off its clock ("signature expired, signature time:…,server time:…"): no fresh key fixes that.
  const signed = Object.keys(sentHeaders).some((name) => name.toLowerCase() === 'x-sdk-date');
  const clockHint = signed && /x-sdk-date|expired|server time/i.test(details?.errorMsg ?? '');
  return new AuthenticationError(
    `TaurusDB refused the credentials for project ${request.projectId} (401${said ? ` ${said}` : ''}) ` +
      `even after they were fetched again; check the credentials secret${clockHint ? ' and the clock' : ''}`,
  );
}

function readErrorBody(
  answer: Answer,
  redact: Scrubber,
): { errorCode: string | undefined; errorMsg: string | undefined } | undefined {
  if (answer.tooLarge) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(answer.body);
  } catch {
    return undefined;
  }
  const parsed = errorBodySchema.safeParse(json);
  if (!parsed.success) return undefined;
  const body = parsed.data;
  const [code, message] =
    'error' in body ? [body.error.code, body.error.message] : [body.error_code, body.error_msg];
  const details = {
    errorCode: upstreamText(code, redact),
    errorMsg: upstreamText(message, redact),
  };
  return details.errorCode === undefined && details.errorMsg === undefined ? undefined : details;
}

/** Upstream text is scrubbed of the credentials in play, in case a gateway echoes them back, and bounded. */
function upstreamText(text: string | null | undefined, redact: Scrubber): string | undefined {
  if (!text) return undefined;
  // Scrubbed before it is cut: a cut could leave a piece shorter than the scrubber looks for.
  const scrubbed = redact(text);
  return scrubbed.length > defaults.maxTextChars ? `${scrubbed.slice(0, defaults.maxTextChars)}…` : scrubbed;
}

function bodyProblem(answer: Answer): string {
  if (answer.tooLarge) return `a body larger than ${defaults.maxBodyBytes} bytes`;
  if (answer.body.trim() === '') return 'an empty body';
  try {
    JSON.parse(answer.body);
    return 'a JSON body of unknown shape';
  } catch {
    // The body itself is not quoted: it can be any size and any content (HTML error pages).
    return `a non-JSON body (${answer.contentType?.split(';')[0]?.trim() || 'no content-type'})`;
  }
}

function issuePath(path: readonly PropertyKey[]): string {
  return (
    path.reduce<string>(
      (text, key) =>
        typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key),
      '',
    ) || '(root)'
  );
}

/**
 * The secret parts of the headers the authenticator added: the token, the security token, and of an
 * AK/SK `Authorization` only its signature (the scheme name and signed header names are no secret,
 * and the gateway's own messages name them).
 */
function secretHeaderValues(headers: Record<string, string>): string[] {
  return Object.entries(headers).flatMap(([name, value]) => {
    const lower = name.toLowerCase();
    if (lower === 'x-auth-token' || lower === 'x-security-token') return [value];
    if (lower === 'authorization') return [/\bSignature=([0-9a-f]+)/.exec(value)?.[1] ?? value];
    return [];
  });
}

function errorCode(error: unknown): string {
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

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, signal ? { signal } : undefined);
}
