import { setTimeout as delay } from 'node:timers/promises';
import { type BackoffOptions, backoffCeilingMs, backoffDelayMs } from '../retry.ts';

/**
 * Every AWS SDK client of the functions (DynamoDB, EventBridge, SQS) is built with these settings, so
 * the longest a single SDK call can take is known in advance and the time each handler keeps back
 * for what follows the TaurusDB call (the completion write, PutEvents) is derived from it rather
 * than guessed. Without them the SDK has no request timeout at all: a hung or throttled DynamoDB
 * write after the upgrade POST would run past the Lambda deadline, and Lambda would end the
 * invocation with nothing published.
 */
export interface AwsCallSettings {
  /** Per attempt: the whole request and response (the SDK's `requestTimeout`, thrown, not warned). */
  requestTimeoutMs: number;
  /** Attempts per SDK call, the first one included. */
  maxAttempts: number;
}

export const defaultAwsCallSettings: AwsCallSettings = { requestTimeoutMs: 1_000, maxAttempts: 3 };

// DynamoDB and EventBridge answer within milliseconds in-region; these waits only spread out retries
// after throttling. The SDK's own strategy waits up to 20 s, or longer when a Retry-After hint
// comes back, which no reserve could cover.
const AWS_BACKOFF: BackoffOptions = { baseMs: 50, capMs: 200 };

/** A socket that has not connected in this long will not: give the attempt up and retry. */
function connectTimeoutMs(settings: AwsCallSettings): number {
  return Math.min(500, settings.requestTimeoutMs);
}

/**
 * The longest one SDK call can take: every attempt timing out, with the longest wait between them.
 * The connect timeout is counted on top of the request timeout although the SDK's request timeout
 * includes connecting: a safe over-estimate of a few hundred milliseconds.
 */
export function awsCallBudgetMs(settings: AwsCallSettings = defaultAwsCallSettings): number {
  let waits = 0;
  for (let retry = 1; retry < settings.maxAttempts; retry += 1) waits += backoffCeilingMs(retry, AWS_BACKOFF);
  return settings.maxAttempts * (connectTimeoutMs(settings) + settings.requestTimeoutMs) + waits;
}

interface Token {
  getRetryCount(): number;
  getRetryDelay(): number;
}

const token = (count: number): Token => ({ getRetryCount: () => count, getRetryDelay: () => 0 });

// Client errors (a failed condition, a validation error) will fail the same way again.
const RETRIED = new Set(['TRANSIENT', 'THROTTLING', 'SERVER_ERROR']);

/** A RetryStrategyV2 (what the SDK's `retryStrategy` option takes) with a known, short total wait. */
function boundedRetryStrategy(settings: AwsCallSettings) {
  return {
    mode: 'standard',
    async acquireInitialRetryToken(): Promise<Token> {
      return token(0);
    },
    async refreshRetryTokenForRetry(previous: Token, errorInfo: { errorType: string }): Promise<Token> {
      const retry = previous.getRetryCount() + 1;
      if (retry >= settings.maxAttempts || !RETRIED.has(errorInfo.errorType)) {
        throw new Error('No retry token available');
      }
      await delay(backoffDelayMs(retry, Math.random, AWS_BACKOFF));
      return token(retry);
    },
    recordSuccess() {},
  };
}

/** Constructor options for any AWS SDK v3 client; the region and endpoint stay the SDK's standard ones. */
export function awsClientOptions(settings: AwsCallSettings = defaultAwsCallSettings) {
  return {
    maxAttempts: settings.maxAttempts,
    retryStrategy: boundedRetryStrategy(settings),
    requestHandler: {
      connectionTimeout: connectTimeoutMs(settings),
      requestTimeout: settings.requestTimeoutMs,
      // Without it a request timeout is only logged as a warning and the call goes on waiting.
      throwOnRequestTimeout: true,
    },
  };
}
