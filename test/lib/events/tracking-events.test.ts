import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  completedDetailSchema,
  failedDetailSchema,
  TRACKING_DETAIL_SCHEMAS,
  timedOutDetailSchema,
} from '../../../lib/events/contract.ts';
import { TRACKING_DETAIL_TYPES } from '../../../lib/events/detail-types.ts';
import { buildResultEvents } from '../../../lib/events/result-events.ts';
import {
  boundText,
  buildCompletedEvent,
  buildJobFailedEvent,
  buildTimedOutEvent,
  buildVersionCompletedEvent,
} from '../../../lib/events/tracking-events.ts';
import { trackedSample, trackedVersionSample } from '../../support/tracking.ts';

const OBSERVED = new Date('2026-11-27T10:07:31.250Z');
const FINISHED = { created: '2026-11-27T10:00:02+0000', ended: '2026-11-27T10:05:00+0000' };

describe('tracking events', () => {
  const tracked = trackedSample();
  const events = [
    buildCompletedEvent(tracked, FINISHED, OBSERVED),
    buildJobFailedEvent(tracked, { ...FINISHED, fail_reason: 'Insufficient subnet IP addresses.' }, OBSERVED),
    buildTimedOutEvent(
      tracked,
      { startedAt: tracked.started_at, maxSeconds: 7200, checks: 27, lastStatus: null, lastError: 'x' },
      OBSERVED,
    ),
  ];

  it('each Detail matches the schema of its DetailType', () => {
    expect(events.map((event) => event.detailType)).toEqual(Object.values(TRACKING_DETAIL_TYPES));
    for (const event of events) {
      const result = TRACKING_DETAIL_SCHEMAS[event.detailType].safeParse(event.detail);
      expect(result.error, event.detailType).toBeUndefined();
    }
  });

  it('a Failed Detail is a Proxy Upgrade Failed Detail plus workflow_id and fail_reason', () => {
    const { workflow_id, fail_reason, ...rest } = (events[1]?.detail ?? {}) as Record<string, unknown>;
    expect(failedDetailSchema.safeParse(rest).error).toBeUndefined();
    expect({ workflow_id, fail_reason }).toEqual({
      workflow_id: tracked.workflow_id,
      fail_reason: 'Insufficient subnet IP addresses.',
    });
  });

  it('ids name content: the same event the same id, any difference another, and apart from the upgrade function ids', () => {
    const ids = events.map((event) => event.detail.event_id);
    expect(new Set(ids).size).toBe(3);
    // Seen later, by another chain: dated by the job's own end, so the same event and the same id.
    expect(buildCompletedEvent(trackedSample({ attempt: 9 }), FINISHED, new Date()).detail.event_id).toBe(
      ids[0],
    );
    const differing = [
      buildCompletedEvent({ ...tracked, workflow_id: 'another-workflow' }, FINISHED, OBSERVED),
      buildCompletedEvent(tracked, { ...FINISHED, created: '2026-11-27T10:00:03+0000' }, OBSERVED),
      buildCompletedEvent(
        { ...tracked, trigger: { ...tracked.trigger, id: 'msg_other' } },
        FINISHED,
        OBSERVED,
      ),
    ];
    for (const other of differing) expect(other.detail.event_id).not.toBe(ids[0]);
    const timedOut = (checks: number, at: Date) =>
      buildTimedOutEvent(
        tracked,
        { startedAt: tracked.started_at, maxSeconds: 7200, checks, lastStatus: 'Running' },
        at,
      ).detail.event_id;
    expect(timedOut(27, OBSERVED)).toBe(timedOut(27, OBSERVED));
    expect(timedOut(27, OBSERVED)).not.toBe(timedOut(26, OBSERVED));
    expect(timedOut(27, OBSERVED)).not.toBe(timedOut(27, new Date(OBSERVED.getTime() + 1)));
    for (const id of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const [upgradeFailed] = buildResultEvents({
      request: tracked.request as never,
      trigger: tracked.trigger,
      outcome: {
        kind: 'failed',
        error: { error_code: 'JOB_FAILED', error_msg: 'Insufficient subnet IP addresses.' },
      },
      occurredAt: new Date('2026-11-27T10:05:00.000Z'),
    });
    expect(ids).not.toContain(upgradeFailed?.detail.event_id);
  });

  it("dates an end by the job's own end time, else by when it was seen", () => {
    expect(events[0]?.detail.occurred_at).toBe('2026-11-27T10:05:00.000Z');
    expect(buildCompletedEvent(tracked, { created: null, ended: null }, OBSERVED).detail.occurred_at).toBe(
      OBSERVED.toISOString(),
    );
    expect(
      buildCompletedEvent(tracked, { created: null, ended: 'sometime' }, OBSERVED).detail.occurred_at,
    ).toBe(OBSERVED.toISOString());
    expect(
      buildCompletedEvent(tracked, { created: null, ended: '2026-11-27T18:05:00+0800' }, OBSERVED).detail
        .occurred_at,
    ).toBe('2026-11-27T10:05:00.000Z');
  });

  it('leaves last_error out of a Timed Out Detail when the last read worked', () => {
    const detail = buildTimedOutEvent(
      tracked,
      { startedAt: tracked.started_at, maxSeconds: 7200, checks: 1, lastStatus: 'Running' },
      OBSERVED,
    ).detail;
    expect(detail).not.toHaveProperty('last_error');
    expect(detail).toMatchObject({ last_status: 'Running', checks: 1 });
  });

  it('a followed version (an Unconfirmed upgrade) ends as Completed or Timed Out with no workflow, in the same schemas', () => {
    const unconfirmed = trackedVersionSample();
    const versions = { current_version: '2.24.03.000', latest_version: '2.24.03.000', can_upgrade: false };
    const completed = buildVersionCompletedEvent(unconfirmed, versions, OBSERVED);
    expect(completed.detailType).toBe('Proxy Upgrade Completed');
    expect(completedDetailSchema.parse(completed.detail)).toMatchObject({
      workflow_id: null,
      job: null,
      versions,
      occurred_at: OBSERVED.toISOString(),
    });
    const facts = { startedAt: unconfirmed.started_at, maxSeconds: 7200, checks: 30, lastStatus: null };
    for (const lastVersions of [{ ...versions, current_version: '2.23.12.000' }, null]) {
      const timedOut = buildTimedOutEvent(unconfirmed, { ...facts, lastVersions }, OBSERVED);
      expect(timedOutDetailSchema.parse(timedOut.detail)).toMatchObject({
        workflow_id: null,
        last_versions: lastVersions,
      });
    }
    // A followed workflow says nothing of versions.
    expect(events[0]?.detail).not.toHaveProperty('versions');
    expect(events[2]?.detail).not.toHaveProperty('last_versions');
  });

  it('cuts long texts at a character boundary, within the bound, and marks them', () => {
    expect(boundText('short', 16)).toBe('short');
    const cut = boundText('€'.repeat(100), 64);
    expect(cut).toMatch(/^€+…\[truncated from 300 bytes\]$/u);
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(64);
    expect(Buffer.byteLength(boundText('x'.repeat(9_000)))).toBe(8 * 1024);
  });

  it('can be written as JSON Schema, as scripts/generate-schemas.ts does', () => {
    for (const schema of Object.values(TRACKING_DETAIL_SCHEMAS)) {
      expect(() =>
        z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'throw' }),
      ).not.toThrow();
    }
  });
});
