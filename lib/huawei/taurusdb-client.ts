/**
 * TaurusDB API client: the "upgrade proxy kernel version" call and the reads around it, over the
 * container's keep-alive connection pools. It only composes; each concern has its own module:
 * - lib/huawei/taurusdb-requests.ts: what each call sends (paths, body), and paging;
 * - lib/huawei/transport.ts: the connection pools, one request sent, whether it was written;
 * - lib/huawei/taurusdb-retry.ts: which failures are sent again, with what wait, within what bounds;
 * - lib/huawei/taurusdb-authorisation.ts: the credentials of each attempt, the re-authentication on a 401;
 * - lib/huawei/taurusdb-answers.ts: the answer schemas, each body parsed once;
 * - lib/huawei/taurusdb-errors.ts: how an answer, or the lack of one, becomes an error.
 *
 * Every upstream text this client returns (error_code, error_msg, the items of a 200, a job's
 * fail_reason) is scrubbed of the credentials in play (lib/huawei/auth/scrub.ts): those the
 * authenticator holds and those just sent.
 */
import type { Dispatcher } from 'undici';
import type * as z from 'zod';
import { type BackoffOptions, defaultBackoff } from '../retry.ts';
import type { RequestAuthenticator } from './auth/request-authenticator.ts';
import { scrubDeep } from './auth/scrub.ts';
import {
  bodyOf,
  decode,
  instanceAnswer,
  jobAnswer,
  maxBodyBytes,
  proxyPageAnswer,
  proxyVersionAnswer,
  upgradeAnswer,
} from './taurusdb-answers.ts';
import type { TaurusDbClient, TaurusDbTimeouts } from './taurusdb-api.ts';
import {
  errorFromAnswer,
  isJobNotYetVisible,
  malformedReadAnswer,
  malformedUpgradeAnswer,
} from './taurusdb-errors.ts';
import {
  type ApiRequest,
  instanceRequest,
  jobRequest,
  listEveryProxy,
  proxyVersionRequest,
  type ReadRequest,
  upgradeRequest,
} from './taurusdb-requests.ts';
import { createExchange, defaultSleep, type Exchange, idempotent, notIdempotent } from './taurusdb-retry.ts';
import { type ConnectionPools, createConnectionPools, send } from './transport.ts';

export type {
  InstanceDetail,
  JobStatus,
  Language,
  ListedProxy,
  ProxyAdvisory,
  ProxyRef,
  ProxyVersion,
  TaurusDbClient,
  TaurusDbTimeouts,
  UpdateResultItem,
  UpgradeCall,
  UpgradeResponse,
} from './taurusdb-api.ts';

export interface TaurusDbClientOptions {
  /** Base URL, e.g. `https://gaussdb.eu-west-101.myhuaweicloud.com`. */
  endpoint: string;
  authenticator: RequestAuthenticator;
  timeouts?: Partial<TaurusDbTimeouts>;
  /** The container's connection pools, made once by the composition root; without them the client makes its own. */
  pools?: ConnectionPools;
  /** A dispatcher to use instead of the pools' (tests). */
  dispatcher?: Dispatcher;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  /** Epoch milliseconds; also the clock `Retry-After` dates are read against. */
  now?: () => number;
  maxAttempts?: number;
  backoff?: Partial<BackoffOptions>;
}

const defaults = {
  // Well under the 29 s API Gateway limit on the Lambda; lib/config.ts has the same defaults.
  timeouts: { connectMs: 3_000, headersMs: 10_000, bodyMs: 10_000, retryBudgetMs: 8_000 },
  maxAttempts: 3,
  // Longer than the gap between calls of one batch; the server's own Keep-Alive hint still wins.
  keepAliveMs: 10_000,
} as const;

export function createTaurusDbClient(options: TaurusDbClientOptions): TaurusDbClient {
  const now = options.now ?? Date.now;
  const exchange = exchangeOf(options, now);

  async function read<T>(schema: z.ZodType<T>, request: ReadRequest, signal?: AbortSignal): Promise<T> {
    const { answer, attempts, redact } = await exchange(request, idempotent, signal);
    const body = bodyOf(answer);
    if (answer.status !== 200) throw errorFromAnswer(answer.status, body, attempts, redact);
    const decoded = decode(schema, body, request.what);
    if (!decoded.ok) throw malformedReadAnswer(decoded.shape);
    // Every text of the answer (a job's fail_reason, names, statuses) may be passed on.
    return scrubDeep(decoded.value, redact);
  }

  return {
    async upgradeProxyVersion(call, signal) {
      const startedAt = now();
      const { answer, attempts, redact } = await exchange(upgradeRequest(call), notIdempotent, signal);
      const body = bodyOf(answer);
      if (answer.status !== 200) throw errorFromAnswer(answer.status, body, attempts, redact);
      const decoded = decode(upgradeAnswer, body, 'an upgrade result');
      if (!decoded.ok) throw malformedUpgradeAnswer(decoded.shape);
      const items = scrubDeep(decoded.value, redact);
      return { status: 200, items, attempts, durationMs: now() - startedAt };
    },

    async getProxyVersion(proxy, signal) {
      return read(proxyVersionAnswer, proxyVersionRequest(proxy), signal);
    },

    async getInstance(instance, signal) {
      return read(instanceAnswer, instanceRequest(instance), signal);
    },

    async listProxies(instance, signal) {
      return listEveryProxy(instance, (request) => read(proxyPageAnswer, request, signal));
    },

    async getJob(projectId, jobId, signal) {
      const request = jobRequest(projectId, jobId);
      try {
        return await read(jobAnswer, request, signal);
      } catch (error) {
        if (isJobNotYetVisible(error)) return undefined;
        throw error;
      }
    },
  };
}

/** The exchange loop over the endpoint, with the options' settings or the defaults. */
function exchangeOf(options: TaurusDbClientOptions, now: () => number): Exchange {
  const timeouts: TaurusDbTimeouts = { ...defaults.timeouts, ...options.timeouts };
  const { connectMs, headersMs, bodyMs } = timeouts;
  const dispatcher =
    options.dispatcher ??
    (options.pools ?? createConnectionPools()).dispatcherFor({
      connectMs,
      headersMs,
      bodyMs,
      keepAliveMs: defaults.keepAliveMs,
    });
  const endpoint = new URL(options.endpoint);
  const origin = endpoint.origin;
  const basePath = endpoint.pathname.replace(/\/+$/, '');
  return createExchange({
    authenticator: options.authenticator,
    send: (request: ApiRequest, headers, signal) =>
      send(dispatcher, {
        origin,
        path: basePath + request.path,
        method: request.method,
        headers,
        body: request.body ?? null,
        headersTimeoutMs: timeouts.headersMs,
        bodyTimeoutMs: timeouts.bodyMs,
        maxBodyBytes,
        signal,
      }),
    urlOf: (request) => new URL(origin + basePath + request.path),
    origin,
    timeouts,
    maxAttempts: options.maxAttempts ?? defaults.maxAttempts,
    backoff: { ...defaultBackoff, ...options.backoff },
    sleep: options.sleep ?? defaultSleep,
    random: options.random ?? Math.random,
    now,
  });
}
