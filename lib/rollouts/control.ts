import type { RolloutStore } from '../aws/rollout-store.ts';
import { RolloutNotFoundError, RolloutStateError, ValidationError } from '../errors.ts';
import type { ControlAction } from '../http/routes.ts';
import { countsOf, type RolloutRecord, TERMINAL } from './record.ts';
import { ROLLOUT_ID_PATTERN, ROLLOUT_ID_RULE } from './rollout-id.ts';

/**
 * The control calls (POST /rollouts/{id}/approve | pause | resume | cancel) and the status
 * (GET /rollouts/{id}). They write only the flags, which the advance tick reads and never writes
 * (lib/aws/rollout-store.ts), so a call between a tick's read and its write is neither lost nor a
 * conflict; the tick acts on it at its next turn. Each call is idempotent: a redelivered approve of
 * the same wave, a second pause or cancel change nothing and answer the status again.
 */

export async function loadRollout(store: RolloutStore, rolloutId: string): Promise<RolloutRecord> {
  if (!ROLLOUT_ID_PATTERN.test(rolloutId)) {
    throw new ValidationError([{ path: 'rollout_id', message: ROLLOUT_ID_RULE }]);
  }
  const record = await store.get(rolloutId);
  if (record === undefined) throw new RolloutNotFoundError(`no rollout ${rolloutId}`);
  return record;
}

export async function controlRollout(
  store: RolloutStore,
  rolloutId: string,
  action: ControlAction,
  now: Date,
): Promise<RolloutRecord> {
  const record = await loadRollout(store, rolloutId);
  const refuse = (why: string) => new RolloutStateError(`rollout ${rolloutId} is ${record.status}: ${why}`);
  const { flags } = record;
  switch (action) {
    case 'approve': {
      const next = record.wave + 1;
      const { approved } = flags;
      // Already approved: the next wave not started yet, or the approved wave running now.
      if (
        approved !== undefined &&
        (approved.wave >= next || (approved.wave === record.wave && record.status !== 'awaiting_approval'))
      ) {
        return record;
      }
      if (record.status !== 'awaiting_approval')
        throw refuse('only a rollout awaiting approval can be approved');
      await store.setFlags(rolloutId, { approved: { wave: next, at: now.toISOString() } });
      break;
    }
    case 'pause':
    case 'resume':
      if (TERMINAL.has(record.status)) throw refuse(`a finished rollout cannot ${action}`);
      await store.setFlags(rolloutId, { paused: action === 'pause' });
      break;
    case 'cancel':
      if (flags.cancelled) return record;
      if (TERMINAL.has(record.status)) throw refuse('a finished rollout cannot be cancelled');
      await store.setFlags(rolloutId, { cancelled: true });
      break;
  }
  return loadRollout(store, rolloutId);
}

/** What GET /rollouts/{id} answers: where it stands, its counts, and every target's state. */
export function statusOf(record: RolloutRecord) {
  return {
    rollout_id: record.rollout_id,
    status: record.status,
    wave: record.wave,
    waves: record.wave_ends.length,
    budget: record.budget,
    flags: record.flags,
    generation: record.generation ?? 0,
    counts: countsOf(record.targets),
    targets: record.targets.map((target) => ({
      project_id: target.project_id,
      instance_id: target.instance_id,
      proxy_id: target.proxy_id,
      ...(target.region === undefined ? {} : { region: target.region }),
      wave: target.wave ?? null,
      state: target.state,
      outcome: target.outcome ?? null,
      workflow_id: target.workflow_id ?? null,
      attempt: target.attempt,
      ...(target.error === undefined ? {} : { error: target.error }),
      ...(target.skip_reason === undefined ? {} : { skip_reason: target.skip_reason }),
    })),
  };
}
