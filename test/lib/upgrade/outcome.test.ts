import { describe, expect, it } from 'vitest';
import type { UpdateResultItem } from '../../../lib/huawei/taurusdb-client.ts';
import {
  EMPTY_RESULT_MESSAGE,
  failureIn,
  labelOf,
  outcomeFacts,
  type TargetOutcome,
} from '../../../lib/upgrade/outcome.ts';

const item = (state: string | null, workflow_id: string | null = null): UpdateResultItem => ({
  instance_id: null,
  workflow_id,
  state,
  error_message: null,
});

const resolved = { source_version: '2.23.12.000', target_version: '2.24.03.000' };
const versions = { current_version: '2.23.12.000', latest_version: '2.24.03.000', can_upgrade: true };

describe('an outcome and its label', () => {
  it.each<[TargetOutcome, string]>([
    [{ kind: 'completed', items: [item('ACCEPT'), item('ACCEPT')], resolved }, 'accepted'],
    [{ kind: 'completed', items: [item('ACCEPT'), item('REJECT')], resolved }, 'rejected'],
    [{ kind: 'completed', items: [item(null)], resolved }, 'rejected'],
    [{ kind: 'completed', items: [], resolved }, 'failed'],
    [{ kind: 'failed', error: { status: 500, error_msg: 'Server failure.' } }, 'failed'],
    [{ kind: 'skipped', reason: 'proxy is already at 2.24.03.000', versions, resolved }, 'skipped'],
    [{ kind: 'planned', would: 'upgrade', versions, resolved }, 'planned'],
    [{ kind: 'unconfirmed', sending_at: '2026-11-27T10:00:00.000Z', reason: 'r', resolved }, 'unconfirmed'],
    [{ kind: 'in_progress', error: { error_code: 'IN_PROGRESS', error_msg: 'busy' } }, 'in_progress'],
  ])('%j is %s', (outcome, label) => {
    expect(labelOf(outcome)).toBe(label);
  });
});

describe('the empty-result rule', () => {
  it('counts a 200 without any update_result item as failed, with a status 200 error and no code', () => {
    const outcome: TargetOutcome = { kind: 'completed', items: [], resolved };
    expect(failureIn(outcome)).toEqual({ status: 200, error_msg: EMPTY_RESULT_MESSAGE });
    expect(labelOf(outcome)).toBe('failed');
    expect(outcomeFacts(outcome)).toMatchObject({
      label: 'failed',
      update_result: [],
      error: failureIn(outcome),
    });
  });

  it('gives the error a failed or held outcome carries, and none to any other', () => {
    const error = { status: 409, error_code: 'DBS.200000', error_msg: 'Conflict.' };
    expect(failureIn({ kind: 'failed', error })).toBe(error);
    expect(failureIn({ kind: 'in_progress', error })).toBe(error);
    expect(failureIn({ kind: 'completed', items: [item('REJECT')], resolved })).toBeUndefined();
    expect(failureIn({ kind: 'skipped', reason: 'done', versions, resolved })).toBeUndefined();
  });
});

describe('outcomeFacts', () => {
  it('says what answers and logs show, each field absent where it does not apply', () => {
    expect(
      outcomeFacts({ kind: 'planned', would: 'refuse', reason: 'proxy is at 2.23.06.000', resolved }),
    ).toEqual({
      label: 'planned',
      versions: undefined,
      resolved,
      would: 'refuse',
      reason: 'proxy is at 2.23.06.000',
      update_result: undefined,
      error: undefined,
    });
    const items = [item('ACCEPT', 'wf-1')];
    expect(outcomeFacts({ kind: 'completed', items, versions, resolved })).toEqual({
      label: 'accepted',
      versions,
      resolved,
      would: undefined,
      reason: undefined,
      update_result: items,
      error: undefined,
    });
  });
});
