import { type AwsCallSettings, awsCallBudgetMs } from './call-budget.ts';
import { type PublishTiming, publishBudgetMs } from './event-publisher.ts';

/**
 * How long before the Lambda deadline a function stops waiting for TaurusDB, so that what comes after
 * the answer still fits: one SDK call (the upgrade function's completion write, the tracker's re-check
 * message) and the publishing of the events, each at its worst (every attempt timing out, every
 * backoff at its cap), plus a margin for the function's own work and Middy's early timeout. Derived
 * from the same settings the clients are built with, so a slower setting moves the reserve with it:
 * an invocation that got an answer from TaurusDB always gets to publish it. Both functions use it.
 */
const MARGIN_MS = 500;

/** The publisher's retry timing under the functions' AWS settings. */
export function publishTimingOf(settings: AwsCallSettings): PublishTiming {
  return { maxAttempts: settings.maxAttempts, requestTimeoutMs: settings.requestTimeoutMs };
}

export function deadlineReserveMs(settings: AwsCallSettings): number {
  return awsCallBudgetMs(settings) + publishBudgetMs(publishTimingOf(settings)) + MARGIN_MS;
}

/**
 * The signal a TaurusDB call is abandoned by: the reserve before the deadline, but never less than
 * a second of waiting, so that a Lambda timeout shorter than the reserve (serverless.yml's 29 s and
 * 30 s are well above it) still gets one attempt rather than none.
 */
export function upstreamSignal(remainingMs: number, settings: AwsCallSettings): AbortSignal {
  return AbortSignal.timeout(Math.max(1_000, remainingMs - deadlineReserveMs(settings)));
}
