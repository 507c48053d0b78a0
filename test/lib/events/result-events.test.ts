import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  acceptedDetailSchema,
  DETAIL_SCHEMAS,
  failedDetailSchema,
  plannedDetailSchema,
  rejectedDetailSchema,
  skippedDetailSchema,
} from '../../../lib/events/contract.ts';
import { buildResultEvents, type ResultEvent } from '../../../lib/events/result-events.ts';
import type { UpdateResultItem } from '../../../lib/huawei/taurusdb-client.ts';
import type { TargetOutcome } from '../../../lib/upgrade/outcome.ts';
import type { UpgradeRequest } from '../../../lib/upgrade/request.ts';
import type { TriggerInfo } from '../../../lib/upgrade/trigger.ts';

/** An update_result item as the TaurusDB client hands it over: fields TaurusDB left out are null. */
const item = (fields: Partial<UpdateResultItem>): UpdateResultItem => ({
  instance_id: null,
  workflow_id: null,
  state: null,
  error_message: null,
  ...fields,
});

// The seed's example request and its two-item 200 answer (which omits instance_id).
const request: UpgradeRequest = {
  project_id: '054e292c9880d4992f02c0196d3ea468',
  instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
  source_version: '2.23.12.000',
  target_version: '2.24.03.000',
  language: 'en-us',
  change_id: 'CHG0031337',
  requested_by: 'alice@example.com',
  delivery_id: 'not-the-trigger-id',
};
const seedAnswer: TargetOutcome = {
  kind: 'completed',
  items: [
    item({ workflow_id: '375ac6a4-2788-4e45-83bf-8a9d2324317f', state: 'ACCEPT', error_message: null }),
    item({
      workflow_id: '375ac6a4-2788-4e45-83be-8a9d2324327f',
      state: 'REJECT',
      error_message: 'Upgrade failed due to insufficient subnet ip',
    }),
  ],
};
const trigger: TriggerInfo = {
  kind: 'http',
  id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
  change_id: 'CHG0031337',
  requested_by: 'alice@example.com',
};
const occurredAt = new Date('2026-11-27T10:00:00.000Z');

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const expectedRequest = {
  project_id: '054e292c9880d4992f02c0196d3ea468',
  instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
  source_version: '2.23.12.000',
  target_version: '2.24.03.000',
};
const expectedResolved = { source_version: '2.23.12.000', target_version: '2.24.03.000' };
const expectedTrigger = {
  kind: 'http',
  id: 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W',
  change_id: 'CHG0031337',
  requested_by: 'alice@example.com',
};

/** The derivation documented in lib/events/event-id.ts, computed here independently of the builder. */
function documentedEventId(detailType: string, detail: Record<string, unknown>, part = 0): string {
  const sorted = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(sorted);
    if (value === null || typeof value !== 'object') return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key, member]) => key !== 'event_id' && member !== undefined)
        .sort(([left], [right]) => (left < right ? -1 : 1))
        .map(([key, member]) => [key, sorted(member)]),
    );
  };
  const material = JSON.stringify([
    'taurusdb-proxy-upgrader/result-event/v2',
    detailType,
    sorted(detail),
    part,
  ]);
  const hex = createHash('sha256').update(material).digest('hex').slice(0, 32).split('');
  hex[12] = '8';
  hex[16] = ((Number.parseInt(hex[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const text = hex.join('');
  return `${text.slice(0, 8)}-${text.slice(8, 12)}-${text.slice(12, 16)}-${text.slice(16, 20)}-${text.slice(20)}`;
}

function build(outcome: TargetOutcome, overrides: { trigger?: TriggerInfo; occurredAt?: Date } = {}) {
  return buildResultEvents({
    request,
    trigger: overrides.trigger ?? trigger,
    outcome,
    occurredAt: overrides.occurredAt ?? occurredAt,
  });
}

function parsesWithItsSchema(event: ResultEvent): boolean {
  return DETAIL_SCHEMAS[event.detailType].safeParse(event.detail).success;
}

describe('buildResultEvents', () => {
  it('gives one event per update_result item, ACCEPT → Accepted, REJECT → Rejected', () => {
    expect(build(seedAnswer)).toStrictEqual([
      {
        detailType: 'Proxy Upgrade Accepted',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: expectedRequest,
          resolved: expectedResolved,
          result: {
            instance_id: null,
            workflow_id: '375ac6a4-2788-4e45-83bf-8a9d2324317f',
            state: 'ACCEPT',
            error_message: null,
          },
          trigger: expectedTrigger,
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
      {
        detailType: 'Proxy Upgrade Rejected',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: expectedRequest,
          resolved: expectedResolved,
          result: {
            instance_id: null,
            workflow_id: '375ac6a4-2788-4e45-83be-8a9d2324327f',
            state: 'REJECT',
            error_message: 'Upgrade failed due to insufficient subnet ip',
          },
          trigger: expectedTrigger,
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
    ]);
  });

  it('treats a null or unknown state as Rejected and keeps every field TaurusDB sent', () => {
    const events = build({
      kind: 'completed',
      items: [
        item({ instance_id: 'i-1', workflow_id: 'w-1', state: null, error_message: 'busy' }),
        item({}),
        item({ instance_id: 'i-3', workflow_id: 'w-3', state: 'accept', error_message: null }),
      ],
    });
    expect(events.map((event) => event.detailType)).toStrictEqual([
      'Proxy Upgrade Rejected',
      'Proxy Upgrade Rejected',
      'Proxy Upgrade Rejected',
    ]);
    expect(
      events.map((event) => (event.detailType === 'Proxy Upgrade Rejected' ? event.detail.result : null)),
    ).toStrictEqual([
      { instance_id: 'i-1', workflow_id: 'w-1', state: null, error_message: 'busy' },
      { instance_id: null, workflow_id: null, state: null, error_message: null },
      { instance_id: 'i-3', workflow_id: 'w-3', state: 'accept', error_message: null },
    ]);
  });

  it('gives one Failed event with the TaurusDB error', () => {
    const events = build({
      kind: 'failed',
      error: { status: 400, error_code: 'DBS.05000008', error_msg: 'The current version is the latest.' },
    });
    expect(events).toStrictEqual([
      {
        detailType: 'Proxy Upgrade Failed',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: expectedRequest,
          resolved: expectedResolved,
          error: { status: 400, error_code: 'DBS.05000008', error_msg: 'The current version is the latest.' },
          trigger: expectedTrigger,
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
    ]);
  });

  it('leaves status and error_code out of a Failed event when TaurusDB could not be reached', () => {
    const scheduled: TriggerInfo = { kind: 'schedule', id: 'c0ffee00-1234-4a5b-8c9d-000000000001' };
    const events = build(
      { kind: 'failed', error: { error_msg: 'TaurusDB could not be reached: connect ECONNREFUSED' } },
      { trigger: scheduled },
    );
    expect(events).toStrictEqual([
      {
        detailType: 'Proxy Upgrade Failed',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: expectedRequest,
          resolved: expectedResolved,
          error: { error_msg: 'TaurusDB could not be reached: connect ECONNREFUSED' },
          trigger: { kind: 'schedule', id: 'c0ffee00-1234-4a5b-8c9d-000000000001' },
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
    ]);
  });

  it('turns a 200 without update_result items into a Failed event rather than nothing', () => {
    expect(build({ kind: 'completed', items: [] })).toStrictEqual([
      {
        detailType: 'Proxy Upgrade Failed',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: expectedRequest,
          resolved: expectedResolved,
          error: {
            status: 200,
            error_msg:
              'TaurusDB answered 200 without any update_result item; the state of the upgrade is unknown',
          },
          trigger: expectedTrigger,
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
    ]);
  });

  it('keeps the occurrence time it is given, so a republished stored result is unchanged', () => {
    const first = build(seedAnswer, { occurredAt });
    const republished = build(seedAnswer, { occurredAt: new Date(occurredAt.toISOString()) });
    expect(republished).toStrictEqual(first);
  });
});

describe('event_id', () => {
  const idsOf = (events: ResultEvent[]) => events.map((event) => event.detail.event_id);

  it('is a version 8 UUID', () => {
    for (const id of idsOf(build(seedAnswer))) expect(id).toMatch(UUID_V8);
  });

  it('is the same for a republished stored result (same outcome, same stored time), and differs at another time', () => {
    const first = idsOf(build(seedAnswer));
    expect(idsOf(build(seedAnswer, { occurredAt: new Date(occurredAt.toISOString()) }))).toStrictEqual(first);
    const later = idsOf(build(seedAnswer, { occurredAt: new Date('2027-01-01T00:00:00.000Z') }));
    expect(later[0]).not.toBe(first[0]);
  });

  it('differs for a new delivery id', () => {
    const first = idsOf(build(seedAnswer));
    const retry = idsOf(build(seedAnswer, { trigger: { ...trigger, id: 'msg_other' } }));
    expect(retry[0]).not.toBe(first[0]);
    expect(retry[1]).not.toBe(first[1]);
  });

  it('differs per item, per detail type and per target', () => {
    const sameState: TargetOutcome = {
      kind: 'completed',
      items: [item({ state: 'REJECT' }), item({ state: 'REJECT' })],
    };
    const [a, b] = idsOf(build(sameState));
    expect(a).not.toBe(b);
    const [accepted] = idsOf(build({ kind: 'completed', items: [item({ state: 'ACCEPT' })] }));
    const [failed] = idsOf(build({ kind: 'failed', error: { error_msg: 'x' } }));
    expect(new Set([a, accepted, failed]).size).toBe(3);
    const otherProxy = buildResultEvents({
      request: { ...request, proxy_id: 'other-proxy' },
      trigger,
      outcome: sameState,
      occurredAt,
    });
    expect(idsOf(otherProxy)[0]).not.toBe(a);
  });

  it('depends on who asked: another change_id or requested_by is another event', () => {
    const [base] = idsOf(build(seedAnswer));
    const other = buildResultEvents({
      request: { ...request, change_id: 'CHG-OTHER', requested_by: 'bob' },
      trigger: { ...trigger, change_id: 'CHG-OTHER', requested_by: 'bob' },
      outcome: seedAnswer,
      occurredAt,
    });
    expect(idsOf(other)[0]).not.toBe(base);
  });

  it('does not depend on request fields that no event carries (language)', () => {
    const [base] = idsOf(build(seedAnswer));
    const zh = buildResultEvents({
      request: { ...request, language: 'zh-cn' },
      trigger,
      outcome: seedAnswer,
      occurredAt,
    });
    expect(idsOf(zh)[0]).toBe(base);
  });
});

describe('detail schemas', () => {
  const outcomes: TargetOutcome[] = [
    seedAnswer,
    { kind: 'completed', items: [item({}), item({ state: 'REJECT', error_message: 'no subnet ip' })] },
    { kind: 'completed', items: [] },
    { kind: 'failed', error: { status: 503, error_code: 'DBS.05000000', error_msg: 'busy' } },
    { kind: 'failed', error: { error_msg: 'timed out' } },
  ];

  it('accept every detail the builder makes', () => {
    const events = outcomes.flatMap((outcome) => build(outcome));
    expect(events.map((event) => event.detailType)).toStrictEqual([
      'Proxy Upgrade Accepted',
      'Proxy Upgrade Rejected',
      'Proxy Upgrade Rejected',
      'Proxy Upgrade Rejected',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
      'Proxy Upgrade Failed',
    ]);
    for (const event of events) expect(parsesWithItsSchema(event)).toBe(true);
  });

  it('refuse a detail of another type or with extra fields', () => {
    const [accepted, rejected] = build(seedAnswer);
    const [failed] = build({ kind: 'failed', error: { error_msg: 'x' } });
    expect(failedDetailSchema.safeParse(accepted?.detail).success).toBe(false);
    expect(acceptedDetailSchema.safeParse(rejected?.detail).success).toBe(false);
    expect(rejectedDetailSchema.safeParse(failed?.detail).success).toBe(false);
    expect(acceptedDetailSchema.safeParse({ ...accepted?.detail, secret: 'x' }).success).toBe(false);
    expect(
      failedDetailSchema.safeParse({ ...failed?.detail, occurred_at: '27 Nov 2026 10:00' }).success,
    ).toBe(false);
  });
});

describe('version-aware events', () => {
  const versions = { current_version: '2.23.12.000', latest_version: '2.24.03.000', can_upgrade: true };
  const { source_version: _source, ...withoutSource } = request;
  const latestRequest: UpgradeRequest = { ...withoutSource, target_version: 'latest' };
  const latestTarget = {
    project_id: expectedRequest.project_id,
    instance_id: expectedRequest.instance_id,
    proxy_id: expectedRequest.proxy_id,
    target_version: 'latest',
  };

  it('an Accepted event of a "latest" request names the request as given and the versions it resolved to', () => {
    const [event] = buildResultEvents({
      request: latestRequest,
      trigger,
      outcome: {
        kind: 'completed',
        items: [item({ state: 'ACCEPT' })],
        versions,
        resolved: expectedResolved,
      },
      occurredAt,
    });
    expect(event).toStrictEqual({
      detailType: 'Proxy Upgrade Accepted',
      detail: {
        event_id: expect.stringMatching(UUID_V8),
        request: latestTarget,
        resolved: expectedResolved,
        versions,
        result: { instance_id: null, workflow_id: null, state: 'ACCEPT', error_message: null },
        trigger: expectedTrigger,
        occurred_at: '2026-11-27T10:00:00.000Z',
      },
    });
  });

  it('gives one Skipped event with the versions found and the reason', () => {
    const atTarget = { ...versions, current_version: '2.24.03.000' };
    const events = buildResultEvents({
      request: latestRequest,
      trigger,
      outcome: {
        kind: 'skipped',
        reason: 'proxy is already at 2.24.03.000',
        versions: atTarget,
        resolved: { source_version: '2.24.03.000', target_version: '2.24.03.000' },
      },
      occurredAt,
    });
    expect(events).toStrictEqual([
      {
        detailType: 'Proxy Upgrade Skipped',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: latestTarget,
          resolved: { source_version: '2.24.03.000', target_version: '2.24.03.000' },
          versions: atTarget,
          reason: 'proxy is already at 2.24.03.000',
          trigger: expectedTrigger,
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
    ]);
    expect(skippedDetailSchema.safeParse(events[0]?.detail).success).toBe(true);
  });

  it('gives one Planned event per dry-run target, marked dry_run, with an id no real run shares', () => {
    const dryRun: UpgradeRequest = { ...request, dry_run: true };
    const planned = buildResultEvents({
      request: dryRun,
      trigger,
      outcome: { kind: 'planned', would: 'upgrade', versions, resolved: expectedResolved },
      occurredAt,
    });
    expect(planned).toStrictEqual([
      {
        detailType: 'Proxy Upgrade Planned',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: { ...expectedRequest, dry_run: true },
          would: 'upgrade',
          resolved: expectedResolved,
          versions,
          trigger: expectedTrigger,
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
    ]);
    const refused = buildResultEvents({
      request: dryRun,
      trigger,
      outcome: {
        kind: 'planned',
        would: 'refuse',
        reason: 'proxy is at 2.24.03.000, request says 2.23.12.000',
        resolved: expectedResolved,
      },
      occurredAt,
    });
    expect(refused[0]?.detail).toMatchObject({
      would: 'refuse',
      reason: 'proxy is at 2.24.03.000, request says 2.23.12.000',
    });
    expect(refused[0]?.detail).not.toHaveProperty('versions');
    for (const event of [...planned, ...refused])
      expect(plannedDetailSchema.parse(event.detail)).toBeTruthy();

    // The same delivery and target, failing in a dry run and in a real run: two different ids.
    const failure: TargetOutcome = { kind: 'failed', error: { status: 500, error_msg: 'Server failure.' } };
    const [dryFailure] = buildResultEvents({ request: dryRun, trigger, outcome: failure, occurredAt });
    const [realFailure] = buildResultEvents({ request, trigger, outcome: failure, occurredAt });
    expect(dryFailure?.detail.event_id).toBe(
      documentedEventId('Proxy Upgrade Failed', dryFailure?.detail as Record<string, unknown>),
    );
    expect(dryFailure?.detail.event_id).not.toBe(realFailure?.detail.event_id);
  });

  it('a Failed event for a whole instance: no proxy_id, all_proxies, no resolved versions', () => {
    const { proxy_id: _proxy, ...instanceRequest } = latestRequest;
    const events = buildResultEvents({
      request: { ...instanceRequest, all_proxies: true },
      trigger,
      outcome: {
        kind: 'failed',
        error: { error_code: 'NO_PROXIES', error_msg: 'instance x lists no proxies' },
      },
      occurredAt,
    });
    expect(events).toStrictEqual([
      {
        detailType: 'Proxy Upgrade Failed',
        detail: {
          event_id: expect.stringMatching(UUID_V8),
          request: {
            project_id: expectedRequest.project_id,
            instance_id: expectedRequest.instance_id,
            all_proxies: true,
            target_version: 'latest',
          },
          error: { error_code: 'NO_PROXIES', error_msg: 'instance x lists no proxies' },
          trigger: expectedTrigger,
          occurred_at: '2026-11-27T10:00:00.000Z',
        },
      },
    ]);
    expect(failedDetailSchema.safeParse(events[0]?.detail).success).toBe(true);
    // Only Failed may leave the proxy out.
    expect(acceptedDetailSchema.safeParse({ ...events[0]?.detail, result: item({}) }).success).toBe(false);
  });

  it('a mismatch refusal is a Failed event with the versions found', () => {
    const found = { ...versions, current_version: '2.24.03.000', latest_version: '2.24.09.000' };
    const [event] = buildResultEvents({
      request,
      trigger,
      outcome: {
        kind: 'failed',
        error: {
          error_code: 'VERSION_MISMATCH',
          error_msg: 'proxy is at 2.24.03.000, request says 2.23.12.000',
        },
        versions: found,
        resolved: expectedResolved,
      },
      occurredAt,
    });
    expect(event?.detail).toMatchObject({
      resolved: expectedResolved,
      versions: found,
      error: {
        error_code: 'VERSION_MISMATCH',
        error_msg: 'proxy is at 2.24.03.000, request says 2.23.12.000',
      },
    });
    expect(event && parsesWithItsSchema(event)).toBe(true);
  });

  it('refuses to build a proxy event without a proxy or without known versions', () => {
    const { proxy_id: _proxy, ...instanceRequest } = request;
    expect(() =>
      buildResultEvents({
        request: { ...instanceRequest, all_proxies: true },
        trigger,
        outcome: seedAnswer,
        occurredAt,
      }),
    ).toThrow(TypeError);
    expect(() =>
      buildResultEvents({ request: latestRequest, trigger, outcome: seedAnswer, occurredAt }),
    ).toThrow(TypeError);
    expect(() =>
      buildResultEvents({
        request: latestRequest,
        trigger,
        outcome: { kind: 'skipped', reason: 'x', resolved: expectedResolved },
        occurredAt,
      }),
    ).toThrow(TypeError);
  });

  it('the new schemas refuse details of another type and versions that are not versions', () => {
    const [skipped] = buildResultEvents({
      request: latestRequest,
      trigger,
      outcome: { kind: 'skipped', reason: 'already there', versions, resolved: expectedResolved },
      occurredAt,
    });
    expect(plannedDetailSchema.safeParse(skipped?.detail).success).toBe(false);
    expect(
      skippedDetailSchema.safeParse({
        ...skipped?.detail,
        versions: { ...versions, current_version: 'latest' },
      }).success,
    ).toBe(false);
    expect(
      skippedDetailSchema.safeParse({
        ...skipped?.detail,
        resolved: { ...expectedResolved, target_version: 'latest' },
      }).success,
    ).toBe(false);
    expect(rejectedDetailSchema.safeParse(skipped?.detail).success).toBe(false);
  });
});

describe('event_id as a content address', () => {
  const failure = (error_msg: string): TargetOutcome => ({ kind: 'failed', error: { error_msg } });
  it('is the documented content address of every event', () => {
    for (const events of [
      build(seedAnswer),
      build(failure('unreachable')),
      build({ kind: 'completed', items: [] }),
    ]) {
      events.forEach((event, part) => {
        expect(event.detail.event_id).toBe(
          documentedEventId(event.detailType, event.detail as unknown as Record<string, unknown>, part),
        );
      });
    }
  });

  it('differs whenever the content differs: another error or another time under one delivery id', () => {
    // A failure that is not stored (credentials, then IAM) retried under the same delivery id.
    const [credentials] = build(failure('secret x could not be read'));
    const [iam] = build(failure('IAM refused the credentials'));
    const [later] = build(failure('secret x could not be read'), {
      occurredAt: new Date('2026-11-27T10:00:05.000Z'),
    });
    const ids = [credentials, iam, later].map((event) => event?.detail.event_id);
    expect(new Set(ids).size).toBe(3);
  });
});
