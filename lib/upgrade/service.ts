import type { Logger } from '@aws-lambda-powertools/logger';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { IdempotentRunner, StepKey } from '../aws/idempotency.ts';
import { digest } from '../aws/step-records.ts';
import { mapWithConcurrency } from '../concurrency.ts';
import { InProgressError } from '../errors.ts';
import type { PlanVerdict } from '../events/detail-types.ts';
import { canonicalJson } from '../events/event-id.ts';
import {
  buildResultEvents,
  EMPTY_RESULT_MESSAGE,
  type ResultEvent,
  type TargetOutcome,
  type TriggerInfo,
} from '../events/result-events.ts';
import type { Delivery } from '../http/triggers.ts';
import type { UpdateResultItem } from '../huawei/taurusdb-client.ts';
import { logger as defaultLogger, metrics as defaultMetrics } from '../observability.ts';
import { ERROR_CODES } from './error-codes.ts';
import { type Expanded, expandTargets } from './plan.ts';
import { targetOf, type UpgradeRequest } from './request.ts';
import { createUpgradeStep, NotStored, type StoredOutcome, type UpgradeClient } from './step.ts';
import type { ProxyVersions, ResolvedVersions } from './versions.ts';

export type { StoredOutcome, UpgradeClient } from './step.ts';

export interface Publisher {
  publish(events: ResultEvent[]): Promise<unknown>;
}

type LoggerLike = Pick<Logger, 'info' | 'warn' | 'error'>;
type MetricsLike = Pick<Metrics, 'addMetric'>;

export type OutcomeLabel =
  | 'accepted'
  | 'rejected'
  | 'failed'
  | 'in_progress'
  | 'skipped'
  | 'planned'
  | 'unconfirmed';

export interface TargetReport {
  /** The request as given; for a proxy of an all_proxies request, with that proxy's id filled in. */
  request: UpgradeRequest;
  trigger: TriggerInfo;
  outcome: OutcomeLabel;
  /** What the version read found; absent with "preflight": false or when the read failed. */
  versions?: ProxyVersions;
  /** The versions the upgrade call carried or would carry, once both were known. */
  resolved?: ResolvedVersions;
  /** Set on planned: what the real run would do. */
  would?: PlanVerdict;
  /** Set on skipped and unconfirmed, and on planned when it would skip or refuse. */
  reason?: string;
  /** Set on accepted/rejected. */
  update_result?: UpdateResultItem[];
  /** Set on failed and in_progress. */
  error?: { status?: number | undefined; error_code?: string | undefined; error_msg: string };
  event_ids: string[];
  /** True when the result came from duplicate suppression's store rather than a TaurusDB call. */
  replayed: boolean;
  /**
   * Set when an all_proxies item of the same batch also listed this proxy: the path of that item
   * (`upgrades[1]`), whose step for the proxy this one replaced, so the proxy was upgraded once.
   */
  merged_from?: string;
}

export interface UpgradeServiceOptions {
  client: UpgradeClient;
  publisher: Publisher;
  idempotency: IdempotentRunner;
  concurrency: number;
  /** Targets one delivery may hold once all_proxies requests are expanded (default 200). */
  maxTargets?: number;
  now?: () => Date;
  logger?: LoggerLike;
  metrics?: MetricsLike;
}

const defaults = {
  // Explicit targets are capped at 50 by the request schema; all_proxies may list up to 2,000 proxies
  // (lib/huawei/taurusdb-client.ts). 200 targets at the default concurrency of 10 are 20 rounds of one read
  // and one upgrade call: minutes at worst, inside a Lambda's 15, and 200 events in 20 PutEvents calls.
  // A larger instance is named proxy by proxy, in several deliveries.
  maxTargets: 200,
};

/** A dry run sends nothing, so it claims nothing. */
const UNGUARDED = {
  claimSending: async () => ({ claimed: true }) as const,
  releaseSending: async () => {},
};

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
 * Duplicate suppression keys on the delivery and the target *as requested*, never on what the version
 * read resolved: a redelivery must find its stored outcome before anything is read, and a later read
 * could resolve "latest" to a newer version and miss it. An omitted source keys as "current" and
 * "latest" as itself; neither can be mistaken for a version. A proxy of an all_proxies request keys on
 * its listed id: each proxy's upgrade is a step of its own, so a retry after a failure part-way through
 * an instance replays the proxies that ran and runs the others (the listing, a read, runs again).
 */
function stepKey(trigger: TriggerInfo, request: UpgradeRequest): StepKey {
  if (request.proxy_id === undefined) throw new TypeError('a step is keyed on one proxy');
  return {
    kind: trigger.kind,
    deliveryId: trigger.id,
    project_id: request.project_id,
    instance_id: request.instance_id,
    proxy_id: request.proxy_id,
    source_version: request.source_version ?? 'current',
    target_version: request.target_version,
  };
}

function labelOf(outcome: TargetOutcome): OutcomeLabel {
  switch (outcome.kind) {
    case 'failed':
      return 'failed';
    case 'skipped':
      return 'skipped';
    case 'planned':
      return 'planned';
    case 'unconfirmed':
      return 'unconfirmed';
    case 'completed':
      // An empty update_result is published as a Failed event (lib/events/result-events.ts); the label agrees.
      if (outcome.items.length === 0) return 'failed';
      return outcome.items.every((item) => item.state === 'ACCEPT') ? 'accepted' : 'rejected';
  }
}

const METRIC_NAMES: Record<OutcomeLabel, string> = {
  accepted: 'Accepted',
  rejected: 'Rejected',
  failed: 'Failed',
  in_progress: 'InProgress',
  skipped: 'Skipped',
  planned: 'Planned',
  unconfirmed: 'Unconfirmed',
};

/** What the service's parts share: its options and the collaborators built from them once. */
interface ServiceContext {
  options: UpgradeServiceOptions;
  now: () => Date;
  log: LoggerLike;
  metrics: MetricsLike;
  maxTargets: number;
  step: ReturnType<typeof createUpgradeStep>;
}

async function processTarget(
  c: ServiceContext,
  request: UpgradeRequest,
  delivery: Delivery,
  invocation: InvocationInfo,
  mergedFrom?: string,
): Promise<ProcessedTarget> {
  const trigger = triggerFor(delivery, request, invocation);
  let stored: StoredOutcome;
  let replayed = false;
  try {
    if (request.dry_run === true) {
      // A dry run changes nothing, so there is nothing to protect from a second run; and storing its
      // plan under the delivery's key would make the real run of the same delivery replay the plan
      // instead of upgrading. It bypasses duplicate suppression altogether.
      stored = await c.step.run(request, invocation.signal, UNGUARDED);
    } else {
      const result = await c.options.idempotency.run(stepKey(trigger, request), (guard) =>
        c.step.run(request, invocation.signal, guard),
      );
      ({ value: stored, replayed } = result);
      if (result.storeError) {
        c.log.warn(
          'result could not be stored for duplicate suppression; a redelivery will reconcile it from the sending record instead of replaying it',
          {
            ...targetOf(request),
            trigger_id: trigger.id,
            error: { name: result.storeError.name, message: result.storeError.message },
          },
        );
      }
    }
  } catch (error) {
    if (error instanceof NotStored) {
      stored = error.stored;
    } else if (error instanceof InProgressError) {
      const report: TargetReport = {
        request,
        trigger,
        outcome: 'in_progress',
        error: { error_code: ERROR_CODES.inProgress, error_msg: error.message },
        event_ids: [],
        replayed: false,
        ...(mergedFrom === undefined ? {} : { merged_from: mergedFrom }),
      };
      c.log.warn('target outcome', logFields(report, null, null));
      c.metrics.addMetric(METRIC_NAMES.in_progress, 'Count', 1);
      return { report, events: [] };
    } else {
      c.log.error('target could not be processed', { ...targetOf(request), trigger_id: trigger.id, error });
      return { events: [], fault: error };
    }
  }
  return finish(c, request, trigger, stored, replayed, mergedFrom);
}

/** Events, answer, log line and metric of one outcome. */
function finish(
  c: ServiceContext,
  request: UpgradeRequest,
  trigger: TriggerInfo,
  stored: StoredOutcome,
  replayed: boolean,
  mergedFrom?: string,
): ProcessedTarget {
  const { outcome } = stored;
  const events = buildResultEvents({ request, trigger, outcome, occurredAt: new Date(stored.occurred_at) });
  const report: TargetReport = {
    request,
    trigger,
    outcome: labelOf(outcome),
    ...(outcome.versions === undefined ? {} : { versions: outcome.versions }),
    ...(outcome.resolved === undefined ? {} : { resolved: outcome.resolved }),
    ...(outcome.kind === 'planned' ? { would: outcome.would } : {}),
    ...('reason' in outcome && outcome.reason !== undefined ? { reason: outcome.reason } : {}),
    ...(outcome.kind === 'completed' ? { update_result: outcome.items } : {}),
    ...(outcome.kind === 'failed' ? { error: outcome.error } : {}),
    // A 200 without any item is a failure whose Failed event carries this error; the answer agrees.
    ...(outcome.kind === 'completed' && outcome.items.length === 0
      ? { error: { status: 200, error_msg: EMPTY_RESULT_MESSAGE } }
      : {}),
    event_ids: events.map((event) => event.detail.event_id),
    replayed,
    ...(mergedFrom === undefined ? {} : { merged_from: mergedFrom }),
  };
  const fields = logFields(report, stored.upstream_status, stored.duration_ms);
  if (report.outcome === 'failed') c.log.error('target outcome', fields);
  else c.log.info('target outcome', fields);
  c.metrics.addMetric(METRIC_NAMES[report.outcome], 'Count', 1);
  if (replayed) c.metrics.addMetric('Replayed', 'Count', 1);
  return { report, events };
}

function processEnded(
  c: ServiceContext,
  entry: Extract<Expanded, { kind: 'ended' }>,
  delivery: Delivery,
  invocation: InvocationInfo,
): ProcessedTarget {
  const trigger = triggerFor(delivery, entry.request, invocation);
  const stored = {
    outcome: { kind: 'failed' as const, error: entry.error },
    occurred_at: c.now().toISOString(),
  };
  return finish(c, entry.request, trigger, { ...stored, upstream_status: null, duration_ms: null }, false);
}

/**
 * One delivery id, one request: the canonical request of each delivery id is checked against the
 * one stored with its first use, before any step or upstream call (a DeliveryReusedError refuses the
 * whole delivery). The trigger's signature headers are not part of it, since a sender's retry signs
 * afresh; dry runs change nothing and are left out, so a dry run may share its id with the real run.
 */
async function guardDeliveries(
  c: ServiceContext,
  requests: UpgradeRequest[],
  delivery: Delivery,
  invocation: InvocationInfo,
) {
  const groups = new Map<string, { trigger: TriggerInfo; requests: UpgradeRequest[] }>();
  for (const request of requests) {
    if (request.dry_run === true) continue;
    const trigger = triggerFor(delivery, request, invocation);
    const group = groups.get(trigger.id) ?? { trigger, requests: [] };
    group.requests.push(request);
    groups.set(trigger.id, group);
  }
  for (const [id, group] of groups) {
    await c.options.idempotency.guardDelivery(group.trigger.kind, id, digest(canonicalJson(group.requests)));
  }
}

/**
 * Upgrades every target (bounded concurrency; one failing target does not stop the others), then
 * publishes all their events. A publish failure throws, so the invocation fails and the trigger
 * retries; duplicate suppression keeps that retry from calling TaurusDB again.
 */
async function runDelivery(
  c: ServiceContext,
  requests: UpgradeRequest[],
  delivery: Delivery,
  invocation: InvocationInfo,
): Promise<TargetReport[]> {
  await guardDeliveries(c, requests, delivery, invocation);
  const entries = (
    await expandTargets(requests, {
      client: c.options.client,
      concurrency: c.options.concurrency,
      maxTargets: c.maxTargets,
      signal: invocation.signal,
    })
  ).flat();
  const processed = await mapWithConcurrency(
    entries,
    c.options.concurrency,
    async (entry): Promise<ProcessedTarget> => {
      if (entry.kind === 'target') {
        return processTarget(c, entry.request, delivery, invocation, entry.merged_from);
      }
      if (entry.kind === 'ended') return processEnded(c, entry, delivery, invocation);
      c.log.error('target could not be processed', { ...targetOf(entry.request), error: entry.fault });
      return { events: [], fault: entry.fault };
    },
  );
  const events = processed.flatMap((entry) => entry.events);
  if (events.length > 0) await c.options.publisher.publish(events);
  // What did complete is published first; then a fault fails the invocation so the trigger
  // retries, and duplicate suppression replays the targets that already ran.
  const fault = processed.find((entry) => entry.fault !== undefined);
  if (fault) throw fault.fault;
  return processed.flatMap((entry) => (entry.report ? [entry.report] : []));
}

export function createUpgradeService(options: UpgradeServiceOptions) {
  const now = options.now ?? (() => new Date());
  const metrics = options.metrics ?? defaultMetrics;
  const c: ServiceContext = {
    options,
    now,
    log: options.logger ?? defaultLogger,
    metrics,
    maxTargets: options.maxTargets ?? defaults.maxTargets,
    step: createUpgradeStep({ client: options.client, now, metrics }),
  };
  return {
    /**
     * Upgrades every target (bounded concurrency; one failing target does not stop the others), then
     * publishes all their events. A publish failure throws, so the invocation fails and the trigger
     * retries; duplicate suppression keeps that retry from calling TaurusDB again.
     */
    run: (requests: UpgradeRequest[], delivery: Delivery, invocation: InvocationInfo) =>
      runDelivery(c, requests, delivery, invocation),
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
    versions: report.versions,
    resolved: report.resolved,
    would: report.would,
    reason: report.reason,
    upstream_status: upstreamStatus,
    duration_ms: durationMs,
    replayed: report.replayed,
    merged_from: report.merged_from,
    workflow_ids: report.update_result?.map((item) => item.workflow_id),
    error_code: report.error?.error_code,
    error_msg: report.error?.error_msg,
    event_ids: report.event_ids,
  };
}
