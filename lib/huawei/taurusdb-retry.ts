/**
 * The exchange loop of the TaurusDB client: one call, sent again while a retry is safe and fits.
 *
 * The upgrade POST is not idempotent: a second copy that reaches TaurusDB may start a second upgrade.
 * So it is sent again (policy `notIdempotent`) only when the first copy provably did not run:
 * - The request never reached a connection: connection refused, DNS failure (ENOTFOUND, EAI_AGAIN),
 *   connect timeout, a connection reset during the TLS handshake (lib/huawei/transport.ts tells these
 *   apart from failures after the request was written). Retried with exponential backoff and full
 *   jitter (lib/retry.ts).
 * - HTTP 429 (APIGW.0308): the gateway throttled the call before TaurusDB saw it. The wait is the
 *   `Retry-After` (seconds or HTTP-date) when given, else the backoff; when that wait does not fit in
 *   the budget left, the call fails at once instead of retrying earlier than the gateway asked.
 * - HTTP 401: once, straight away, with fresh credentials (lib/huawei/taurusdb-authorisation.ts). This
 *   retry does not count against the attempts below.
 * These retries share two bounds: `maxAttempts` attempts in all (default 3) and no retry starting later
 * than `retryBudgetMs` (default 8 s) after the first attempt started. Each attempt is itself bounded by
 * the connect/headers/body timeouts; a caller that must finish by a deadline (the Lambda's remaining
 * time) passes an AbortSignal.
 *
 * Never retried, each failing with an UpstreamError (lib/huawei/taurusdb-errors.ts): a connection
 * reset or closed once the request was written (whether TaurusDB acted on it cannot be told apart
 * from "it ran, then the connection died"); a headers or body timeout (the request was sent); 5xx;
 * other 4xx; a 200 that cannot be read; a caller abort.
 *
 * Reads (proxy version, proxy list, job status) are idempotent and use the wider policy `idempotent`:
 * a 5xx or a failure after sending is worth another try too.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { type BackoffOptions, backoffDelayMs, decideRetry, parseRetryAfterMs } from '../retry.ts';
import type { RequestAuthenticator } from './auth/request-authenticator.ts';
import type { Scrubber } from './auth/scrub.ts';
import type { TaurusDbTimeouts } from './taurusdb-api.ts';
import { authoriseCall } from './taurusdb-authorisation.ts';
import { abandoned, unanswered } from './taurusdb-errors.ts';
import type { ApiRequest } from './taurusdb-requests.ts';
import type { Answer, Sent } from './transport.ts';

export interface RetryPolicy {
  /** Whether this outcome proves the request can be sent again without repeating an effect. */
  retryable(sent: Sent): boolean;
  /** Whether a failure after sending leaves an effect in doubt (shown in the error message). */
  idempotent: boolean;
}

export const notIdempotent: RetryPolicy = {
  idempotent: false,
  retryable: (sent) => (sent.kind === 'answered' ? sent.answer.status === 429 : !sent.written),
};

// Reads change nothing: a 5xx, a timeout or a reset after sending is worth another try too.
export const idempotent: RetryPolicy = {
  idempotent: true,
  retryable: (sent) =>
    sent.kind === 'answered' ? sent.answer.status === 429 || sent.answer.status >= 500 : true,
};

/** The answer the loop ended on (any status but a retried 401), and what it took. */
export interface Exchanged {
  answer: Answer;
  /** Attempts made, the one after a 401 included. */
  attempts: number;
  /** Removes the credentials in play from any upstream text the client passes on. */
  redact: Scrubber;
}

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface ExchangeOptions {
  authenticator: RequestAuthenticator;
  /** Sends one attempt of the request with these headers. */
  send(request: ApiRequest, headers: Record<string, string>, signal?: AbortSignal): Promise<Sent>;
  /** The request's absolute URL, as the authenticator sees (and an AK/SK signature covers) it. */
  urlOf(request: ApiRequest): URL;
  /** Where the requests go, for the messages of calls that got no answer. */
  origin: string;
  timeouts: TaurusDbTimeouts;
  maxAttempts: number;
  backoff: BackoffOptions;
  sleep: Sleep;
  random: () => number;
  /** Epoch milliseconds; also the clock `Retry-After` dates are read against. */
  now: () => number;
}

export type Exchange = (request: ApiRequest, policy: RetryPolicy, signal?: AbortSignal) => Promise<Exchanged>;

export function createExchange(options: ExchangeOptions): Exchange {
  const { now } = options;

  /** The wait before the next attempt, or undefined when none fits (attempts or budget spent). */
  function nextDelay(sent: Sent, state: { counted: number; retries: number; startedAt: number }) {
    const retryAfterMs =
      sent.kind === 'answered' ? parseRetryAfterMs(sent.answer.headers['retry-after'], now()) : undefined;
    const decision = decideRetry(
      {
        attemptsMade: state.counted,
        elapsedMs: now() - state.startedAt,
        delayMs: retryAfterMs ?? backoffDelayMs(state.retries + 1, options.random, options.backoff),
      },
      { maxAttempts: options.maxAttempts, budgetMs: options.timeouts.retryBudgetMs },
    );
    return decision.retry ? decision.delayMs : undefined;
  }

  return async (request, policy, signal) => {
    const startedAt = now();
    const authorisation = authoriseCall(options.authenticator, request, () => options.urlOf(request));
    let attempts = 0;
    let retries = 0;
    for (;;) {
      const headers = await authorisation.headers();
      attempts += 1;
      const sent = await options.send(request, headers, signal);
      // A complete answer is used even if the caller gave up meanwhile: it says what happened.
      if (sent.kind === 'failed' && signal?.aborted) throw abandoned(request, sent.written, signal.reason);
      if (sent.kind === 'answered' && sent.answer.status === 401) {
        await authorisation.refused(sent.answer);
        continue;
      }
      const counted = attempts - (authorisation.reauthenticated ? 1 : 0);
      const delayMs = policy.retryable(sent) ? nextDelay(sent, { counted, retries, startedAt }) : undefined;
      if (delayMs === undefined) {
        if (sent.kind === 'answered')
          return { answer: sent.answer, attempts, redact: authorisation.redactor() };
        const context = { origin: options.origin, timeouts: options.timeouts, idempotent: policy.idempotent };
        throw unanswered(request, context, sent, attempts);
      }
      retries += 1;
      await options.sleep(delayMs, signal).catch(() => undefined);
      // Only attempts that provably did not run get here.
      if (signal?.aborted) throw abandoned(request, false, signal.reason);
    }
  };
}

export const defaultSleep: Sleep = (ms, signal) => delay(ms, undefined, signal ? { signal } : undefined);
