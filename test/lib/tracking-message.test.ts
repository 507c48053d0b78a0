import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../lib/errors.ts';
import { acceptedDetailSchema } from '../../lib/event-schemas.ts';
import { parseTrackedMessage, serializeTracked, trackedFromAccepted } from '../../lib/tracking-message.ts';
import { acceptedEvent } from '../support/tracking.ts';
import { sample } from '../support/world.ts';

function validationError(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error('expected a ValidationError');
}

describe('the tracked state', () => {
  it('starts from an Accepted Detail: its event id, workflow, time, request, versions and trigger', () => {
    const { detail } = acceptedEvent();
    expect(acceptedDetailSchema.safeParse(detail).error).toBeUndefined();

    expect(trackedFromAccepted(detail)).toEqual({
      version: 1,
      accepted_event_id: detail.event_id,
      workflow_id: detail.result.workflow_id,
      accepted_at: detail.occurred_at,
      attempt: 0,
      request: detail.request,
      resolved: detail.resolved,
      trigger: detail.trigger,
    });
  });

  it('refuses an Accepted Detail without a workflow to follow, naming the field', () => {
    const { detail } = acceptedEvent();
    detail.result.workflow_id = null;
    const error = validationError(() => trackedFromAccepted(detail));
    expect(error.issues).toEqual([
      {
        path: 'detail.result.workflow_id',
        message: expect.stringContaining('TaurusDB gave no workflow to follow'),
      },
    ]);
  });

  it('ignores Accepted fields it does not need, so the upgrade function can add some', () => {
    const { detail } = acceptedEvent();
    expect(trackedFromAccepted({ ...detail, added_later: { anything: true } }).workflow_id).toBe(
      detail.result.workflow_id,
    );
  });

  it('goes through a message body and back unchanged', () => {
    const tracked = { ...trackedFromAccepted(acceptedEvent().detail), attempt: 7 };
    expect(parseTrackedMessage(serializeTracked(tracked))).toEqual(tracked);
  });

  it('reads the events/ SQS sample', () => {
    const [record] = sample('tracking-sqs-recheck.json').Records;
    expect(parseTrackedMessage(record.body)).toMatchObject({ attempt: 1, version: 1 });
  });

  it('refuses a body that is not JSON, or not this shape, naming what is wrong', () => {
    expect(validationError(() => parseTrackedMessage('{not json')).issues).toEqual([
      { path: 'body', message: 'is not JSON' },
    ]);
    const tracked = trackedFromAccepted(acceptedEvent().detail);
    const issues = validationError(() =>
      parseTrackedMessage(JSON.stringify({ ...tracked, version: 2, attempt: -1 })),
    ).issues.map((issue) => issue.path);
    expect(issues).toEqual(['body.version', 'body.attempt']);
    expect(
      validationError(() => parseTrackedMessage(JSON.stringify({ ...tracked, extra: 1 }))).issues[0]?.path,
    ).toBe('body');
  });
});
