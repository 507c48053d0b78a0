import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { mapWithConcurrency } from './concurrency.ts';
import { AppError, AuthenticationError, InProgressError, SecretError, UpstreamError } from './errors.ts';
import type { IdempotentRunner } from './idempotency.ts';
import { logger as defaultLogger, metrics as defaultMetrics } from './observability.ts';
import {
  buildResultEvents,
  EMPTY_RESULT_MESSAGE,
  type ResultEvent,
  type TargetOutcome,
  type TriggerInfo,
} from './result-events.ts';
import type { UpdateResultItem, UpgradeCall, UpgradeResponse } from './taurusdb-client.ts';
import type { Delivery } from './triggers.ts';
import { targetOf, type UpgradeRequest } from './upgrade-request.ts';

export interface UpgradeClient {
  upgradeProxyVersion(call: UpgradeCall, signal?: AbortSignal): Promise<UpgradeResponse>;
}

export interface Publisher {
  publish(events: ResultEvent[]): Promise<unknown>;
}

type LoggerLike = Pick<Logger, 'info' | 'warn' | 'error'>;
type MetricsLike = Pick<Metrics, 'addMetric'>;

/** What is kept per delivery and target, so a redelivery republishes the same events without a second call. */
export interface StoredOutcome {
  outcome: TargetOutcome;
  occurred_at: string;
  upstream_status: number | null;
  duration_ms: number | null;
}

export type OutcomeLabel = 'accepted' | 'rejected' | 'failed' | 'in_progress';

export interface TargetReport {
  request: UpgradeRequest;
  trigger: TriggerInfo;
  outcome: OutcomeLabel;
  /** Set on accepted/rejected. */
  update_result?: UpdateResultItem[];
  /** Set on failed and in_progress. */
  error?: { status?: number | undefined; error_code?: string | undefined; error_msg: string };
  event_ids: string[];
  /** True when the result came from duplicate suppression's store rather than a TaurusDB call. */
  replayed: boolean;
}

export interface UpgradeServiceOptions {
  client: UpgradeClient;
  publisher: Publisher;
  idempotency: IdempotentRunner;
  concurrency: number;
  now?: () => Date;
  logger?: LoggerLike;
  metrics?: MetricsLike;
}

export interface InvocationInfo {
  /** The Lambda request id: Scheduler input's delivery id when the request names none. */
  requestId: string;
  /** Aborted shortly before the Lambda times out, so a slow TaurusDB cannot outlive the invocation. */
  signal?: AbortSignal | undefined;
}

interface ProcessedTarget {
  report?: TargetReport;
  events: ResultEvent[];
  /** An unexpected failure (duplicate suppression store down, a bug): the invocation must fail. */
  fault?: unknown;
}

function triggerFor(delivery: Delivery, request: UpgradeRequest, invocation: InvocationInfo): TriggerInfo {
  // Scheduler input has no envelope: `delivery_id` (e.g. <aws.scheduler.execution-id>) names the
  // delivery, else the Lambda request id, which Lambda keeps across its own async retries.
  const id =
    delivery.kind === 'schedule' && delivery.id === undefined
      ? (request.delivery_id ?? invocation.requestId)
      : delivery.id;
  return {
    kind: delivery.kind,
    id: id ?? invocation.requestId,
    ...(request.change_id === undefined ? {} : { change_id: request.change_id }),
    ...(request.requested_by === undefined ? {} : { requested_by: request.requested_by }),
  };
}

/**
 * Failures before TaurusDB ran the upgrade (credentials unreadable, IAM refused, connection refused,
 * throttled past the retry budget) are reported but not stored: a redelivery may try again. Failures
 * after the request may have run (5xx, timeout after sending, unreadable 200) and TaurusDB's own 4xx
 * refusals are stored, so a redelivery republishes them instead of calling a second time.
 */
function failureOf(error: unknown): { outcome: TargetOutcome; retryable: boolean } {
  if (error instanceof UpstreamError) {
    return {
      outcome: {
        kind: 'failed',
        error: {
          ...(error.status === undefined ? {} : { status: error.status }),
          ...(error.errorCode === undefined ? {} : { error_code: error.errorCode }),
          error_msg: error.errorMsg ?? error.message,
        },
      },
      retryable: !error.mayHaveRun,
    };
  }
  if (error instanceof AuthenticationError) {
    return {
      outcome: { kind: 'failed', error: { error_code: 'AUTHENTICATION_FAILED', error_msg: error.message } },
      retryable: true,
    };
  }
  if (error instanceof SecretError) {
    return {
      outcome: { kind: 'failed', error: { error_code: 'CREDENTIALS_UNAVAILABLE', error_msg: error.message } },
      retryable: true,
    };
  }
  throw error;
}

class NotStored extends AppError {
  readonly stored: StoredOutcome;
  constructor(stored: StoredOutcome) {
    super('failure before the upgrade ran; not stored so that a redelivery can try again');
    this.stored = stored;
  }
}

function labelOf(outcome: TargetOutcome): OutcomeLabel {
  if (outcome.kind === 'failed') return 'failed';
  // An empty update_result is published as a Failed event (lib/result-events.ts); the label agrees.
  if (outcome.items.length === 0) return 'failed';
  return outcome.items.every((item) => item.state === 'ACCEPT') ? 'accepted' : 'rejected';
}

export function createUpgradeService(options: UpgradeServiceOptions) {
  const now = options.now ?? (() => new Date());
  const log = options.logger ?? defaultLogger;
  const metrics = options.metrics ?? defaultMetrics;

  async function callTaurusDb(
    request: UpgradeRequest,
    signal: AbortSignal | undefined,
  ): Promise<StoredOutcome> {
    const occurredAt = () => now().toISOString();
    try {
      const response = await options.client.upgradeProxyVersion(
        {
          projectId: request.project_id,
          instanceId: request.instance_id,
          proxyId: request.proxy_id,
          sourceVersion: request.source_version,
          targetVersion: request.target_version,
          language: request.language,
        },
        signal,
      );
      metrics.addMetric('UpstreamLatency', 'Milliseconds', response.durationMs);
      return {
        outcome: { kind: 'completed', items: response.items },
        occurred_at: occurredAt(),
        upstream_status: response.status,
        duration_ms: response.durationMs,
      };
    } catch (error) {
      const { outcome, retryable } = failureOf(error);
      const stored: StoredOutcome = {
        outcome,
        occurred_at: occurredAt(),
        upstream_status: error instanceof UpstreamError ? (error.status ?? null) : null,
        duration_ms: null,
      };
      if (retryable) throw new NotStored(stored);
      return stored;
    }
  }

  async function processTarget(
    request: UpgradeRequest,
    delivery: Delivery,
    invocation: InvocationInfo,
  ): Promise<ProcessedTarget> {
    const trigger = triggerFor(delivery, request, invocation);
    let stored: StoredOutcome;
    let replayed = false;
    try {
      const result = await options.idempotency.run({ deliveryId: trigger.id, ...targetOf(request) }, () =>
        callTaurusDb(request, invocation.signal),
      );
      ({ value: stored, replayed } = result);
      if (result.storeError) {
        log.warn(
          'result could not be stored for duplicate suppression; a redelivery would call TaurusDB again',
          {
            ...targetOf(request),
            trigger_id: trigger.id,
            error: { name: result.storeError.name, message: result.storeError.message },
          },
        );
      }
    } catch (error) {
      if (error instanceof NotStored) {
        stored = error.stored;
      } else if (error instanceof InProgressError) {
        const report: TargetReport = {
          request,
          trigger,
          outcome: 'in_progress',
          error: { error_code: 'IN_PROGRESS', error_msg: error.message },
          event_ids: [],
          replayed: false,
        };
        log.warn('target outcome', logFields(report, null, null));
        metrics.addMetric('InProgress', 'Count', 1);
        return { report, events: [] };
      } else {
        log.error('target could not be processed', { ...targetOf(request), trigger_id: trigger.id, error });
        return { events: [], fault: error };
      }
    }
    const events = buildResultEvents({
      request,
      trigger,
      outcome: stored.outcome,
      occurredAt: new Date(stored.occurred_at),
    });
    const report: TargetReport = {
      request,
      trigger,
      outcome: labelOf(stored.outcome),
      ...(stored.outcome.kind === 'completed'
        ? { update_result: stored.outcome.items }
        : { error: stored.outcome.error }),
      // A 200 without any item is a failure whose Failed event carries this error; the answer agrees.
      ...(stored.outcome.kind === 'completed' && stored.outcome.items.length === 0
        ? { error: { status: 200, error_msg: EMPTY_RESULT_MESSAGE } }
        : {}),
      event_ids: events.map((event) => event.detail.event_id),
      replayed,
    };
    const fields = logFields(report, stored.upstream_status, stored.duration_ms);
    if (report.outcome === 'failed') log.error('target outcome', fields);
    else log.info('target outcome', fields);
    metrics.addMetric(
      { accepted: 'Accepted', rejected: 'Rejected', failed: 'Failed', in_progress: 'InProgress' }[
        report.outcome
      ],
      'Count',
      1,
    );
    if (replayed) metrics.addMetric('Replayed', 'Count', 1);
    return { report, events };
  }

  return {
    /**
     * Upgrades every target (bounded concurrency; one failing target does not stop the others), then
     * publishes all their events. A publish failure throws, so the invocation fails and the trigger
     * retries; duplicate suppression keeps that retry from calling TaurusDB again.
     */
    async run(
      requests: UpgradeRequest[],
      delivery: Delivery,
      invocation: InvocationInfo,
    ): Promise<TargetReport[]> {
      const processed = await mapWithConcurrency(requests, options.concurrency, (request) =>
        processTarget(request, delivery, invocation),
      );
      const events = processed.flatMap((entry) => entry.events);
      if (events.length > 0) await options.publisher.publish(events);
      // What did complete is published first; then a fault fails the invocation so the trigger
      // retries, and duplicate suppression replays the targets that already ran.
      const fault = processed.find((entry) => entry.fault !== undefined);
      if (fault) throw fault.fault;
      return processed.flatMap((entry) => (entry.report ? [entry.report] : []));
    },
  };
}

function logFields(report: TargetReport, upstreamStatus: number | null, durationMs: number | null) {
  return {
    outcome: report.outcome,
    ...targetOf(report.request),
    trigger_kind: report.trigger.kind,
    trigger_id: report.trigger.id,
    change_id: report.trigger.change_id,
    requested_by: report.trigger.requested_by,
    upstream_status: upstreamStatus,
    duration_ms: durationMs,
    replayed: report.replayed,
    workflow_ids: report.update_result?.map((item) => item.workflow_id),
    error_code: report.error?.error_code,
    error_msg: report.error?.error_msg,
    event_ids: report.event_ids,
  };
}
