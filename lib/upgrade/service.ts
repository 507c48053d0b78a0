import type { IdempotentRunner } from '../aws/idempotency.ts';
import type { DeferralScheduler } from '../aws/scheduler.ts';
import { mapWithConcurrency } from '../concurrency.ts';
import type { ResultEvent } from '../events/result-events.ts';
import type { Delivery } from '../http/triggers.ts';
import { logger as defaultLogger, metrics as defaultMetrics } from '../observability.ts';
import type { DeferralSettings } from './deferral.ts';
import { labelOf, type OutcomeLabel } from './outcome.ts';
import type { LoggerLike, MetricsLike } from './outcome-log.ts';
import { type Expanded, expandTargets } from './plan.ts';
import { type Processed, processEntry, type TargetProcessing } from './process-target.ts';
import type { TargetReport } from './report.ts';
import type { UpgradeRequest } from './request.ts';
import { createUpgradeStep, type UpgradeClient } from './step.ts';
import { guardDeliveries } from './suppression.ts';
import { type InvocationInfo, triggerFor } from './trigger.ts';

export interface Publisher {
  publish(events: ResultEvent[]): Promise<unknown>;
}

export interface UpgradeServiceOptions {
  client: UpgradeClient;
  publisher: Publisher;
  idempotency: IdempotentRunner;
  concurrency: number;
  /**
   * Where busy targets' next attempts are scheduled; undefined: a busy target fails at once, unless a
   * rollout's loop runs its next attempt (lib/upgrade/step.ts).
   */
  scheduler?: DeferralScheduler | undefined;
  deferralSettings?: DeferralSettings;
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
  // lib/config.ts has the same defaults (BUSY_RETRY_*).
  deferralSettings: { retryForMs: 2 * 3600_000, backoff: { baseMs: 300_000, capMs: 1_800_000 } },
};

interface ServiceContext {
  options: UpgradeServiceOptions;
  maxTargets: number;
  processing: TargetProcessing;
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
  const { options } = c;
  await guardDeliveries(options.idempotency, requests, (request) =>
    triggerFor(delivery, request, invocation),
  );
  // The delivery is validated, signed and not a reused id: its projects' authorisation (credentials
  // secret, IAM token) starts now and runs alongside the duplicate-suppression claim of each target,
  // which the first TaurusDB call waits for; no TaurusDB call moves earlier. It matters on a
  // container's first invocation, the only one without a token (docs/performance.md, "Cold start").
  for (const projectId of new Set(requests.map((request) => request.project_id))) {
    options.client.prepare?.(projectId);
  }
  const entries = (
    await expandTargets(requests, {
      client: options.client,
      concurrency: options.concurrency,
      maxTargets: c.maxTargets,
      signal: invocation.signal,
    })
  ).flat();
  const processed = await processByInstance(c, entries, delivery, invocation);
  const events = processed.flatMap((entry) => entry.events ?? []);
  if (events.length > 0) await options.publisher.publish(events);
  // What did complete is published first; then a fault fails the invocation so the trigger
  // retries, and duplicate suppression replays the targets that already ran.
  const fault = processed.find((entry) => entry.fault !== undefined);
  if (fault) throw fault.fault;
  return processed.flatMap((entry) => (entry.report ? [entry.report] : []));
}

// What leaves the instance occupied: an upgrade TaurusDB took on (or may have), or a busy instance.
const OCCUPYING: ReadonlySet<OutcomeLabel> = new Set(['accepted', 'unconfirmed', 'in_progress', 'deferred']);

/**
 * TaurusDB runs one operation per instance: an all_proxies request (or a batch naming several proxies
 * of one instance) would earn N-1 busy refusals. So the targets of one instance run one after the
 * other, and once one of them occupies the instance the rest are deferred without an upgrade call
 * (lib/upgrade/step.ts, waitFor); instances run concurrently. Dry runs change nothing and run as
 * they come; so does everything when deferred attempts are off.
 */
async function processByInstance(
  c: ServiceContext,
  entries: Expanded[],
  delivery: Delivery,
  invocation: InvocationInfo,
): Promise<Processed[]> {
  const groups = new Map<string, number[]>();
  entries.forEach((entry, index) => {
    const { request } = entry;
    // Without deferred attempts there is nothing to wait with: TaurusDB judges each call, as before.
    const serial = c.options.scheduler !== undefined && entry.kind === 'target' && request.dry_run !== true;
    const key = serial ? `${request.project_id}/${request.instance_id}` : `#${index}`;
    groups.set(key, [...(groups.get(key) ?? []), index]);
  });
  const results: Processed[] = [];
  await mapWithConcurrency([...groups.values()], c.options.concurrency, async (indices) => {
    let holder: string | undefined;
    for (const index of indices) {
      const entry = entries[index] as Expanded;
      const processed = await processEntry(c.processing, entry, delivery, invocation, holder);
      results[index] = processed;
      const outcome = processed.report?.outcome;
      if (holder === undefined && outcome !== undefined && OCCUPYING.has(labelOf(outcome))) {
        holder = entry.request.proxy_id;
      }
    }
  });
  return results;
}

export function createUpgradeService(options: UpgradeServiceOptions) {
  const now = options.now ?? (() => new Date());
  const metrics = options.metrics ?? defaultMetrics;
  const c: ServiceContext = {
    options,
    maxTargets: options.maxTargets ?? defaults.maxTargets,
    processing: {
      step: createUpgradeStep({
        client: options.client,
        now,
        metrics,
        deferrals: {
          scheduler: options.scheduler,
          settings: options.deferralSettings ?? defaults.deferralSettings,
        },
      }),
      idempotency: options.idempotency,
      now,
      log: options.logger ?? defaultLogger,
      metrics,
    },
  };
  return {
    run: (requests: UpgradeRequest[], delivery: Delivery, invocation: InvocationInfo) =>
      runDelivery(c, requests, delivery, invocation),
  };
}
