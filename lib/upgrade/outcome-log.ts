import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { IdempotencyStoreError } from '../errors.ts';
import { type OutcomeLabel, type OutcomeRecord, outcomeFacts } from './outcome.ts';
import type { Target, TargetReport } from './report.ts';
import { targetOf } from './request.ts';

export type LoggerLike = Pick<Logger, 'info' | 'warn' | 'error'>;
export type MetricsLike = Pick<Metrics, 'addMetric'>;

export const METRIC_NAMES: Record<OutcomeLabel, string> = {
  accepted: 'Accepted',
  rejected: 'Rejected',
  failed: 'Failed',
  in_progress: 'InProgress',
  skipped: 'Skipped',
  planned: 'Planned',
  unconfirmed: 'Unconfirmed',
  deferred: 'Deferred',
};

type Timing = Pick<OutcomeRecord, 'upstream_status' | 'duration_ms'>;

/**
 * One "target outcome" line per target (an error for a failure, a warning for a target another
 * invocation holds) and its metric, plus Replayed when the store answered instead of TaurusDB.
 */
export function logOutcome(
  log: LoggerLike,
  metrics: MetricsLike,
  report: TargetReport,
  timing: Timing,
): void {
  const fields = logFields(report, timing);
  if (fields.outcome === 'failed') log.error('target outcome', fields);
  else if (fields.outcome === 'in_progress') log.warn('target outcome', fields);
  else log.info('target outcome', fields);
  metrics.addMetric(METRIC_NAMES[fields.outcome], 'Count', 1);
  if (report.replayed) metrics.addMetric('Replayed', 'Count', 1);
}

function logFields(report: TargetReport, timing: Timing) {
  const facts = outcomeFacts(report.outcome);
  return {
    outcome: facts.label,
    ...targetOf(report.request),
    trigger_kind: report.trigger.kind,
    trigger_id: report.trigger.id,
    trigger_auth: report.trigger.auth,
    client_id: report.trigger.client_id,
    change_id: report.trigger.change_id,
    requested_by: report.trigger.requested_by,
    versions: facts.versions,
    resolved: facts.resolved,
    would: facts.would,
    reason: facts.reason,
    upstream_status: timing.upstream_status,
    duration_ms: timing.duration_ms,
    replayed: report.replayed,
    merged_from: report.merged_from,
    workflow_ids: facts.update_result?.map((item) => item.workflow_id),
    error_code: facts.error?.error_code,
    error_msg: facts.error?.error_msg,
    event_ids: report.event_ids,
  };
}

export function logStoreError(log: LoggerLike, target: Target, storeError: IdempotencyStoreError): void {
  log.warn(
    'result could not be stored for duplicate suppression; a redelivery will reconcile it from the sending record instead of replaying it',
    {
      ...targetOf(target.request),
      trigger_id: target.trigger.id,
      error: { name: storeError.name, message: storeError.message },
    },
  );
}
