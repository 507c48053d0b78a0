import type { RolloutDetail } from '../events/contract.ts';
import {
  ROLLOUT_DETAIL_TYPES,
  ROLLOUT_EVENT_NAMESPACE,
  type RolloutDetailType,
} from '../events/detail-types.ts';
import { contentEventId } from '../events/event-id.ts';
import { countsOf, failuresOf, type RolloutRecord, type RolloutTarget } from './record.ts';

export interface RolloutEvent {
  detailType: RolloutDetailType;
  detail: RolloutDetail;
}

const MAX_FAILURES_LISTED = 100;

/**
 * What one tick changed about the rollout as a whole, as `Proxy Rollout …` events: read from the
 * record before the tick (`before`) and after it (`after`), so the tick needs no bookkeeping of its
 * own. A wave started when its first target was claimed, completed when its last one ended; the
 * statuses speak for themselves. The tick publishes them before it writes the record (like the end
 * events), so a tick that fails publishes them again on its retry.
 */
export function lifecycleEvents(before: RolloutRecord, after: RolloutRecord, now: Date): RolloutEvent[] {
  const drafts: { type: RolloutDetailType; wave: number; failures?: boolean }[] = [];
  const started = (record: RolloutRecord, wave: number) =>
    record.targets.some((target) => target.wave === wave && target.attempt > 0);
  const ended = (record: RolloutRecord, wave: number) =>
    record.targets.every((target) => target.wave !== wave || target.state === 'ended');
  if (
    !before.targets.some((target) => target.attempt > 0) &&
    after.targets.some((target) => target.attempt > 0)
  ) {
    drafts.push({ type: ROLLOUT_DETAIL_TYPES.started, wave: 0 });
  }
  for (let wave = before.wave; wave <= after.wave; wave += 1) {
    if (!started(before, wave) && started(after, wave))
      drafts.push({ type: ROLLOUT_DETAIL_TYPES.waveStarted, wave });
    if (started(after, wave) && !(started(before, wave) && ended(before, wave)) && ended(after, wave)) {
      drafts.push({ type: ROLLOUT_DETAIL_TYPES.waveCompleted, wave });
    }
  }
  if (before.status !== after.status) {
    const byStatus: Partial<Record<RolloutRecord['status'], RolloutDetailType>> = {
      awaiting_approval: ROLLOUT_DETAIL_TYPES.awaitingApproval,
      paused: ROLLOUT_DETAIL_TYPES.paused,
      halted: ROLLOUT_DETAIL_TYPES.halted,
      cancelled: ROLLOUT_DETAIL_TYPES.cancelled,
      completed: ROLLOUT_DETAIL_TYPES.completed,
    };
    const type = byStatus[after.status];
    if (type !== undefined) drafts.push({ type, wave: after.wave, failures: after.status === 'halted' });
    if (before.status === 'paused' && after.status !== 'paused') {
      drafts.push({ type: ROLLOUT_DETAIL_TYPES.resumed, wave: after.wave });
    }
  }
  return drafts.map(({ type, wave, failures }) => eventOf(after, type, wave, failures === true, now));
}

function eventOf(
  record: RolloutRecord,
  type: RolloutDetailType,
  wave: number,
  failures: boolean,
  now: Date,
): RolloutEvent {
  const { change_id, requested_by } = record.settings;
  const draft = {
    rollout_id: record.rollout_id,
    status: record.status,
    wave,
    waves: record.wave_ends.length,
    counts: countsOf(record.targets),
    ...(failures ? { failures: listedFailuresOf(record.targets) } : {}),
    ...(change_id === undefined ? {} : { change_id }),
    ...(requested_by === undefined ? {} : { requested_by }),
    occurred_at: now.toISOString(),
  };
  return {
    detailType: type,
    detail: { event_id: contentEventId(ROLLOUT_EVENT_NAMESPACE, type, draft), ...draft },
  };
}

function listedFailuresOf(targets: readonly RolloutTarget[]) {
  return failuresOf(targets)
    .slice(0, MAX_FAILURES_LISTED)
    .map((target) => ({
      project_id: target.project_id,
      instance_id: target.instance_id,
      proxy_id: target.proxy_id,
      outcome: target.outcome as string,
      ...(target.error?.error_code === undefined ? {} : { error_code: target.error.error_code }),
      ...(target.error === undefined ? {} : { error_msg: target.error.error_msg }),
    }));
}
