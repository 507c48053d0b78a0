import type { Delivery } from '../http/triggers.ts';
import type { ProxyRef } from '../huawei/taurusdb-api.ts';
import type { InstanceDetail } from '../huawei/taurusdb-client.ts';
import { failureIn, labelOf, type TargetOutcome } from '../upgrade/outcome.ts';
import type { TargetReport } from '../upgrade/report.ts';
import type { UpgradeRequest } from '../upgrade/request.ts';
import type { InvocationInfo } from '../upgrade/trigger.ts';
import { judgeInstance } from '../upgrade/window.ts';
import type { UpgradeResult } from './advance.ts';
import type { RolloutRecord, RolloutTarget } from './record.ts';

/** The upgrade service (lib/upgrade/service.ts) as a rollout uses it: one proxy per call. */
export interface UpgradeRunner {
  run(requests: UpgradeRequest[], delivery: Delivery, invocation: InvocationInfo): Promise<TargetReport[]>;
}

/** What the runner reads to see whether a `"window": "maintenance"` target's window is open. */
export interface WindowReader {
  getInstance(instance: Omit<ProxyRef, 'proxyId'>, signal?: AbortSignal): Promise<InstanceDetail>;
  now(): Date;
}

/**
 * One target of a rollout through the same per-target step as every other delivery (version read
 * right before the POST, duplicate suppression keyed on the delivery id, windows, events), as a
 * delivery of kind `rollout` whose id names the rollout, the target and the attempt. The service is
 * built WITHOUT a Scheduler (lib/composition/rollout-function.ts), so each target has one driver:
 * the delivery carries the attempt and the target's busy deadline (`rollout_retry`), and the step
 * alone decides whether a busy answer is retried (Deferred, the loop runs the next attempt) or, with
 * BUSY_RETRY_FOR spent, the end (Failed INSTANCE_BUSY, published once); the tick follows its answer.
 *
 * A closed maintenance window is looked at first: the target waits for the opening, nothing is sent
 * or published, and the wait counts against no busy retry time (a Deferred event every tick would
 * say nothing new). The step still judges the window itself right before the POST.
 */
export async function runRolloutUpgrade(
  service: UpgradeRunner,
  record: RolloutRecord,
  target: RolloutTarget,
  deliveryId: string,
  windows?: WindowReader,
): Promise<UpgradeResult> {
  const request = requestOf(record, target);
  if (request.window === 'maintenance' && windows !== undefined) {
    const opensAt = await closedWindowOpening(windows, target);
    if (opensAt !== undefined) return { kind: 'window', opens_at: opensAt.toISOString() };
  }
  const retry = {
    attempt: target.attempt,
    ...(target.busy_deadline === undefined ? {} : { deadline: target.busy_deadline }),
  };
  const delivery = { ...deliveryOf(record, request, deliveryId), rollout_retry: retry };
  const [report] = await service.run([request], delivery, { requestId: deliveryId });
  if (report === undefined) throw new TypeError(`the upgrade service reported nothing for ${target.key}`);
  return resultOf(report.outcome);
}

/**
 * When a closed window opens; undefined when it is open, the instance is busy or unavailable, or the
 * read failed: the step decides those and reports them as it does for every delivery.
 */
async function closedWindowOpening(windows: WindowReader, target: RolloutTarget): Promise<Date | undefined> {
  const instance = {
    projectId: target.project_id,
    instanceId: target.instance_id,
    ...(target.region === undefined ? {} : { region: target.region }),
  };
  const detail = await windows.getInstance(instance).catch(() => undefined);
  if (detail === undefined) return undefined;
  const verdict = judgeInstance(target.instance_id, detail, windows.now());
  return !verdict.go && verdict.kind === 'closed' ? verdict.opensAt : undefined;
}

/** The upgrade request a rollout sends for one target: the same for every attempt and for its events. */
export function requestOf(record: RolloutRecord, target: RolloutTarget): UpgradeRequest {
  const { settings } = record;
  return {
    project_id: target.project_id,
    instance_id: target.instance_id,
    proxy_id: target.proxy_id,
    ...(target.region === undefined ? {} : { region: target.region }),
    target_version: settings.target_version,
    ...(settings.source_version === undefined ? {} : { source_version: settings.source_version }),
    window: settings.window,
    ...(settings.only_if_advised ? { only_if_advised: true } : {}),
    ...(settings.change_id === undefined ? {} : { change_id: settings.change_id }),
    ...(settings.requested_by === undefined ? {} : { requested_by: settings.requested_by }),
  };
}

export function deliveryOf(record: RolloutRecord, request: UpgradeRequest, deliveryId: string): Delivery {
  return { kind: 'rollout', id: deliveryId, payload: request, rollout_id: record.rollout_id };
}

/** A step's outcome as the tick counts it. */
function resultOf(outcome: TargetOutcome): UpgradeResult {
  const error = failureIn(outcome);
  switch (outcome.kind) {
    case 'completed': {
      const label = labelOf(outcome);
      if (label === 'accepted') {
        const resolved = outcome.resolved === undefined ? {} : { resolved: outcome.resolved };
        return { kind: 'accepted', workflow_id: outcome.items[0]?.workflow_id ?? null, ...resolved };
      }
      return {
        kind: 'ended',
        outcome: label === 'rejected' ? 'rejected' : 'failed',
        ...(error ? { error } : {}),
      };
    }
    case 'failed':
      // INSTANCE_BUSY included: the step gives up on a busy instance only once BUSY_RETRY_FOR is spent.
      return { kind: 'ended', outcome: 'failed', error: outcome.error };
    case 'skipped':
    case 'planned':
      return { kind: 'ended', outcome: 'skipped' };
    case 'unconfirmed':
      return { kind: 'ended', outcome: 'unconfirmed', error: { error_msg: outcome.reason } };
    case 'deferred':
      return {
        kind: 'busy',
        not_before: outcome.next_attempt_at,
        deadline: outcome.deadline,
        ...(outcome.error ? { error: outcome.error } : {}),
      };
    case 'in_progress':
      return { kind: 'in_progress' };
  }
}
