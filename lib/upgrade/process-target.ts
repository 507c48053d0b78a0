import type { IdempotentRunner, StepGuard } from '../aws/idempotency.ts';
import { InProgressError } from '../errors.ts';
import { buildResultEvents, type ResultEvent } from '../events/result-events.ts';
import type { Delivery } from '../http/triggers.ts';
import { ERROR_CODES } from './error-codes.ts';
import type { OutcomeRecord, TargetOutcome } from './outcome.ts';
import { type LoggerLike, logOutcome, logStoreError, type MetricsLike } from './outcome-log.ts';
import type { Expanded } from './plan.ts';
import { reportOf, type Target, type TargetReport } from './report.ts';
import { targetOf } from './request.ts';
import type { UpgradeStep } from './step.ts';
import { runSuppressed, stepKey, UNGUARDED } from './suppression.ts';
import { type InvocationInfo, triggerFor } from './trigger.ts';

/** What processing one target needs, made once per service. */
export interface TargetProcessing {
  step: UpgradeStep;
  idempotency: IdempotentRunner;
  now: () => Date;
  log: LoggerLike;
  metrics: MetricsLike;
}

/**
 * One target processed: its report and events, or a fault (duplicate suppression store down, a bug)
 * that must fail the invocation once what did complete is published.
 */
export type Processed =
  | { report: TargetReport; events: ResultEvent[]; fault?: undefined }
  | { fault: unknown; report?: undefined; events?: undefined };

/** One entry of the expanded delivery, whatever its kind, to what the delivery publishes and answers. */
export async function processEntry(
  p: TargetProcessing,
  entry: Expanded,
  delivery: Delivery,
  invocation: InvocationInfo,
  waitFor?: string,
): Promise<Processed> {
  if (entry.kind === 'fault') {
    p.log.error('target could not be processed', { ...targetOf(entry.request), error: entry.fault });
    return { fault: entry.fault };
  }
  const target: Target = {
    request: entry.request,
    trigger: triggerFor(delivery, entry.request, invocation),
    ...(entry.kind === 'target' && entry.merged_from !== undefined ? { merged_from: entry.merged_from } : {}),
  };
  if (entry.kind === 'target') return processTarget(p, target, invocation.signal, waitFor);
  // It ended before any step, so there is nothing to store: its Failed event is dated now.
  const record = { outcome: entry.outcome, occurred_at: p.now().toISOString() };
  return finish(p, target, { ...record, upstream_status: null, duration_ms: null }, false);
}

async function processTarget(
  p: TargetProcessing,
  target: Target,
  signal: AbortSignal | undefined,
  waitFor: string | undefined,
): Promise<Processed> {
  let ran: { record: OutcomeRecord; replayed: boolean };
  try {
    ran = await runStep(p, target, signal, waitFor);
  } catch (error) {
    if (!(error instanceof InProgressError)) {
      p.log.error('target could not be processed', {
        ...targetOf(target.request),
        trigger_id: target.trigger.id,
        error,
      });
      return { fault: error };
    }
    const outcome: TargetOutcome = {
      kind: 'in_progress',
      error: { error_code: ERROR_CODES.inProgress, error_msg: error.message },
    };
    // Another invocation holds the step and publishes its events: this one has none.
    const report = reportOf(target, outcome, [], false);
    logOutcome(p.log, p.metrics, report, { upstream_status: null, duration_ms: null });
    return { report, events: [] };
  }
  return finish(p, target, ran.record, ran.replayed);
}

async function runStep(
  p: TargetProcessing,
  target: Target,
  signal: AbortSignal | undefined,
  waitFor: string | undefined,
) {
  const { request, trigger } = target;
  const run = (guard: StepGuard) => p.step.run({ request, trigger, waitFor }, signal, guard);
  if (request.dry_run === true) {
    // A dry run changes nothing, so there is nothing to protect from a second run; and storing its
    // plan under the delivery's key would make the real run of the same delivery replay the plan
    // instead of upgrading. It bypasses duplicate suppression altogether.
    return { record: (await run(UNGUARDED)).record, replayed: false };
  }
  const result = await runSuppressed(p.idempotency, stepKey(trigger, request), run);
  if (result.storeError) logStoreError(p.log, target, result.storeError);
  return result;
}

/** Events, report, log line and metric of one outcome. */
function finish(p: TargetProcessing, target: Target, record: OutcomeRecord, replayed: boolean): Processed {
  const { request, trigger } = target;
  const { outcome } = record;
  const events = buildResultEvents({ request, trigger, outcome, occurredAt: new Date(record.occurred_at) });
  const report = reportOf(target, outcome, events, replayed);
  logOutcome(p.log, p.metrics, report, record);
  return { report, events };
}
