/**
 * Pure retry arithmetic: how long to wait before a retry and whether a retry still fits. The decision
 * of *which* failures may be retried belongs to the caller (see lib/huawei/taurusdb-client.ts).
 */

export interface BackoffOptions {
  /** Ceiling of the first retry's wait; it doubles for every further retry. */
  baseMs: number;
  /** No wait is ever longer than this. */
  capMs: number;
}

export const defaultBackoff: BackoffOptions = { baseMs: 250, capMs: 2_000 };

/** The longest wait before retry number `retry` (1 = the first retry): base·2^(retry-1), capped. */
export function backoffCeilingMs(retry: number, options: BackoffOptions = defaultBackoff): number {
  return Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, retry - 1));
}

/**
 * "Full jitter": a uniform wait between 0 and the ceiling. Concurrent invocations throttled by the same
 * gateway then spread out instead of coming back in lock-step, as they would with a fixed backoff.
 */
export function backoffDelayMs(
  retry: number,
  random: () => number = Math.random,
  options: BackoffOptions = defaultBackoff,
): number {
  const unit = Math.min(Math.max(random(), 0), 1);
  return Math.floor(unit * backoffCeilingMs(retry, options));
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
const IMF_FIXDATE = new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^${LONG_DAY}, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^${DAY} ${MONTH} (?: \\d|\\d{2}) ${TIME} \\d{4}$`);

/**
 * Reads `Retry-After` (RFC 9110 §10.2.3): delay-seconds or an HTTP-date, in any of the three date
 * formats a recipient must accept. Returns the wait in ms from `nowMs` (0 for a date in the past), or
 * undefined when the header is absent or unreadable. `Date.parse` alone is not used as the gate because
 * it accepts garbage such as "2" (as the year 2001).
 */
export function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  let when = Number.NaN;
  if (IMF_FIXDATE.test(text) || RFC850_DATE.test(text)) when = Date.parse(text);
  // asctime carries no zone; HTTP dates are always GMT.
  else if (ASCTIME_DATE.test(text)) when = Date.parse(`${text} GMT`);
  if (Number.isNaN(when)) return undefined;
  return Math.max(0, when - nowMs);
}

export interface RetryBudget {
  /** Attempts in all, the first one included. */
  maxAttempts: number;
  /** No retry starts later than this many ms after the first attempt started. */
  budgetMs: number;
}

export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; reason: 'attempts' | 'budget' };

/**
 * Whether one more attempt fits: attempts left, and the wait ending inside the budget. A wait that
 * would overrun the budget is not shortened to fit: retrying earlier than a throttling gateway asked
 * mostly buys another 429 while burning the invocation's time.
 */
export function decideRetry(
  state: { attemptsMade: number; elapsedMs: number; delayMs: number },
  budget: RetryBudget,
): RetryDecision {
  if (state.attemptsMade >= budget.maxAttempts) return { retry: false, reason: 'attempts' };
  if (state.elapsedMs + state.delayMs > budget.budgetMs) return { retry: false, reason: 'budget' };
  return { retry: true, delayMs: state.delayMs };
}
