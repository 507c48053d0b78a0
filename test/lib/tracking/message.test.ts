import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../lib/errors.ts';
import { acceptedDetailSchema, unconfirmedDetailSchema } from '../../../lib/events/contract.ts';
import {
  parseTrackedMessage,
  serializeTracked,
  trackedFromAccepted,
  trackedFromUnconfirmed,
} from '../../../lib/tracking/message.ts';
import { acceptedEvent } from '../../support/tracking.ts';
import { sample } from '../../support/world.ts';

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
      version: 2,
      follow: 'workflow',
      origin_event_id: detail.event_id,
      workflow_id: detail.result.workflow_id,
      started_at: detail.occurred_at,
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

  it('starts from an Unconfirmed Detail: the proxy version is followed, from when the earlier attempt was sending', () => {
    const { detail } = sample('tracking-unconfirmed-event.json');
    expect(unconfirmedDetailSchema.safeParse(detail).error).toBeUndefined();

    expect(trackedFromUnconfirmed(detail)).toEqual({
      version: 2,
      follow: 'version',
      origin_event_id: detail.event_id,
      workflow_id: null,
      started_at: detail.sending_at,
      attempt: 0,
      request: detail.request,
      resolved: detail.resolved,
      trigger: detail.trigger,
    });
    // What the reconciliation read found is not needed: the tracker reads the version itself.
    const { versions: _versions, ...withoutVersions } = detail;
    expect(trackedFromUnconfirmed({ ...withoutVersions, read_error: 'UpstreamError: 503' }).follow).toBe(
      'version',
    );
  });

  it('refuses an Unconfirmed Detail without the time the upgrade may have begun, naming the field', () => {
    const { detail } = sample('tracking-unconfirmed-event.json');
    delete detail.sending_at;
    expect(validationError(() => trackedFromUnconfirmed(detail)).issues.map((issue) => issue.path)).toEqual([
      'detail.sending_at',
    ]);
  });

  it('reads the events/ SQS samples, a workflow and a version followed', () => {
    const [workflow] = sample('tracking-sqs-recheck.json').Records;
    expect(parseTrackedMessage(workflow.body)).toMatchObject({ attempt: 1, version: 2, follow: 'workflow' });
    const [version] = sample('tracking-sqs-recheck-version.json').Records;
    expect(parseTrackedMessage(version.body)).toMatchObject({
      attempt: 1,
      version: 2,
      follow: 'version',
      workflow_id: null,
    });
  });

  it('still reads a version-1 message, queued before a deploy, as a followed workflow', () => {
    const v1 = {
      version: 1,
      accepted_event_id: '52a17ae1-b3da-841c-bdbc-0fc22ea168d2',
      workflow_id: '3711e2ad-5787-49bc-a47f-3f0b066af9f5',
      accepted_at: '2026-11-27T10:00:00.000Z',
      attempt: 4,
      request: {
        project_id: '054e292c9880d4992f02c0196d3ea468',
        instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
        proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
        source_version: '2.23.12.000',
        target_version: '2.24.03.000',
      },
      resolved: { source_version: '2.23.12.000', target_version: '2.24.03.000' },
      trigger: { kind: 'http', id: 'msg_2Lh9PqX7vR3tY8wK1mN4bC6dF0' },
    };
    const { accepted_event_id, accepted_at, ...rest } = v1;
    const tracked = parseTrackedMessage(JSON.stringify(v1));
    expect(tracked).toEqual({
      ...rest,
      version: 2,
      follow: 'workflow',
      origin_event_id: accepted_event_id,
      started_at: accepted_at,
    });
    // The next check goes out in the current shape.
    expect(JSON.parse(serializeTracked(tracked))).toMatchObject({ version: 2, follow: 'workflow' });
    expect(validationError(() => parseTrackedMessage(JSON.stringify({ ...v1, attempt: -1 }))).issues).toEqual(
      [{ path: 'body.attempt', message: expect.any(String) }],
    );
  });

  it('refuses a followed version that names a workflow, and a followed workflow without one', () => {
    const version = trackedFromUnconfirmed(sample('tracking-unconfirmed-event.json').detail);
    const workflow = trackedFromAccepted(acceptedEvent().detail);
    expect(
      validationError(() => parseTrackedMessage(JSON.stringify({ ...version, workflow_id: 'wf-1' })))
        .issues[0]?.path,
    ).toBe('body.workflow_id');
    expect(
      validationError(() => parseTrackedMessage(JSON.stringify({ ...workflow, workflow_id: null }))).issues[0]
        ?.path,
    ).toBe('body.workflow_id');
  });

  it('refuses a body that is not JSON, or not this shape, naming what is wrong', () => {
    expect(validationError(() => parseTrackedMessage('{not json')).issues).toEqual([
      { path: 'body', message: 'is not JSON' },
    ]);
    const tracked = trackedFromAccepted(acceptedEvent().detail);
    const issues = validationError(() =>
      parseTrackedMessage(JSON.stringify({ ...tracked, version: 3, attempt: -1 })),
    ).issues.map((issue) => issue.path);
    expect(issues).toEqual(['body.version', 'body.attempt']);
    expect(
      validationError(() => parseTrackedMessage(JSON.stringify({ ...tracked, extra: 1 }))).issues[0]?.path,
    ).toBe('body');
  });
});
