import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createEventPublisher } from '../../../lib/aws/event-publisher.ts';
import { createTrackingQueue } from '../../../lib/aws/tracking-queue.ts';
import { PublishError, ValidationError } from '../../../lib/errors.ts';
import {
  completedDetailSchema,
  jobFailedDetailSchema,
  timedOutDetailSchema,
} from '../../../lib/events/contract.ts';
import { contentEventId } from '../../../lib/events/event-id.ts';
import type { RequestAuthenticator } from '../../../lib/huawei/auth/request-authenticator.ts';
import { createTaurusDbClient } from '../../../lib/huawei/taurusdb-client.ts';
import {
  type FollowedVersion,
  parseTrackedMessage,
  type TrackedUpgrade,
} from '../../../lib/tracking/message.ts';
import { createTracker, recheckDelaySeconds } from '../../../lib/tracking/tracker.ts';
import { type EventBridgeStandIn, startEventBridgeStandIn } from '../../../stand-ins/eventbridge.ts';
import { type SqsStandIn, startSqsStandIn } from '../../../stand-ins/sqs.ts';
import { replies, startTaurusDbStandIn, type TaurusDbStandIn } from '../../../stand-ins/taurusdb.ts';
import {
  failedJobWithBadUtf8,
  recordingObservability,
  trackedSample,
  trackedVersionSample,
} from '../../support/tracking.ts';

const TOKEN = 'MIIT-tracker-token-0001';
const BUS = 'tracker-test-bus';
const SOURCE = 'taurusdb.proxy-upgrader';
/** Any tracking event id: the content address (RFC 9562 v8 UUID) of its Detail. */
const V8_ID = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
const SCHEDULE = { maxSeconds: 7_200, initialDelaySeconds: 30, maxDelaySeconds: 300 };

const authenticator: RequestAuthenticator = {
  headersFor: async () => ({ 'x-auth-token': TOKEN }),
  invalidate: () => undefined,
};

describe('recheckDelaySeconds', () => {
  it('starts at the initial delay and doubles per check up to the maximum', () => {
    const plenty = 10 * 3600 * 1000;
    expect([0, 1, 2, 3, 4, 5, 60].map((attempt) => recheckDelaySeconds(attempt, plenty, SCHEDULE))).toEqual([
      30, 60, 120, 240, 300, 300, 300,
    ]);
  });

  it('schedules the last check for the end of the tracking time, and never less than a second ahead', () => {
    expect(recheckDelaySeconds(4, 45_000, SCHEDULE)).toBe(45);
    expect(recheckDelaySeconds(4, 44_001, SCHEDULE)).toBe(45);
    expect(recheckDelaySeconds(0, 200, SCHEDULE)).toBe(1);
  });
});

describe('a check of an accepted upgrade (TaurusDB, EventBridge and SQS stand-ins)', () => {
  let taurusDb: TaurusDbStandIn;
  let eventBridge: EventBridgeStandIn;
  let sqs: SqsStandIn;
  let observed: ReturnType<typeof recordingObservability>;
  const clock = { now: 0 };
  let readsBefore = 0;
  /** Job reads TaurusDB received during this test. */
  const jobReads = () => taurusDb.reads('jobs') - readsBefore;

  beforeAll(async () => {
    [taurusDb, eventBridge, sqs] = await Promise.all([
      startTaurusDbStandIn({ acceptedTokens: [TOKEN] }),
      startEventBridgeStandIn(),
      startSqsStandIn(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([taurusDb?.close(), eventBridge?.close(), sqs?.close()]);
  });
  beforeEach(() => {
    eventBridge.reset();
    sqs.reset();
    observed = recordingObservability();
    readsBefore = taurusDb.reads('jobs');
    // Ten seconds after the sample's Accepted event.
    clock.now = Date.parse('2026-11-27T10:00:10.000Z');
  });

  function tracker(options: { maxAttempts?: number } = {}) {
    const taurusDbClient = createTaurusDbClient({
      endpoint: taurusDb.url,
      authenticator,
      maxAttempts: options.maxAttempts ?? 1,
      sleep: async () => undefined,
    });
    return createTracker({
      jobs: taurusDbClient,
      proxyVersions: taurusDbClient,
      publisher: createEventPublisher({
        busName: BUS,
        source: SOURCE,
        client: eventBridge.client(),
        sleep: async () => undefined,
        maxAttempts: 1,
      }),
      queue: createTrackingQueue({ queueUrl: sqs.queueUrl(), client: sqs.client() }),
      ...SCHEDULE,
      now: () => clock.now,
      logger: observed.logger,
      metrics: observed.metrics,
    });
  }

  /** The body of the last re-check message, as the next invocation will read it. */
  function lastMessage(): TrackedUpgrade {
    const message = sqs.sent.at(-1);
    if (!message) throw new Error('no re-check was sent');
    return parseTrackedMessage(message.body);
  }

  it('follows Pending → Running → Completed: one GET per check, a delayed re-check after each open one, then the Completed event', async () => {
    const first = trackedSample();
    taurusDb.setJob(first.workflow_id, { status: 'Pending' }, { status: 'Running' }, { status: 'Completed' });
    const subject = tracker();

    const pending = await subject.check(first);
    expect(pending.outcome).toMatchObject({ kind: 'rechecking', status: 'Pending', delaySeconds: 30 });
    expect(jobReads()).toBe(1);
    expect(sqs.sent.map((message) => message.delaySeconds)).toEqual([30]);
    expect(eventBridge.calls).toEqual([]);

    clock.now += 30_000;
    const running = await subject.check(lastMessage());
    expect(running).toMatchObject({ attempt: 1, outcome: { kind: 'rechecking', status: 'Running' } });
    expect(jobReads()).toBe(2);
    expect(sqs.sent.map((message) => message.delaySeconds)).toEqual([30, 60]);
    expect(eventBridge.calls).toEqual([]);

    clock.now += 60_000;
    const completed = await subject.check(lastMessage());
    expect(completed).toMatchObject({ attempt: 2, outcome: { kind: 'completed', status: 'Completed' } });
    expect(jobReads()).toBe(3);
    expect(sqs.sent).toHaveLength(2);

    const [event, ...others] = eventBridge.events();
    expect(others).toEqual([]);
    expect(event).toMatchObject({ Source: SOURCE, EventBusName: BUS, DetailType: 'Proxy Upgrade Completed' });
    const detail = completedDetailSchema.parse(event?.Detail);
    expect(detail).toEqual({
      event_id: V8_ID,
      request: first.request,
      resolved: first.resolved,
      workflow_id: first.workflow_id,
      job: { status: 'Completed', created: '2026-11-27T10:00:00+0000', ended: '2026-11-27T10:05:00+0000' },
      trigger: first.trigger,
      // The job's own end time, so every repeat of this event carries the same one.
      occurred_at: '2026-11-27T10:05:00.000Z',
    });
    expect(observed.metricNames).toContain('UpgradesCompleted');
  });

  it('reads the job on the documented path with the project of the request', async () => {
    const tracked = trackedSample();
    taurusDb.setJob(tracked.workflow_id, { status: 'Running' });
    await tracker().check(tracked);
    const read = taurusDb.requests.at(-1);
    expect(read?.method).toBe('GET');
    expect(read?.url).toBe(`/v3/${tracked.request.project_id}/jobs?id=${tracked.workflow_id}`);
    expect(read?.headers['x-auth-token']).toBe(TOKEN);
  });

  it('publishes a Failed event with the fail_reason when the workflow failed', async () => {
    const tracked = trackedSample({ attempt: 3 });
    taurusDb.setJob(tracked.workflow_id, {
      status: 'Failed',
      fail_reason: 'Insufficient subnet IP addresses.',
    });

    const report = await tracker().check(tracked);

    expect(report.outcome).toEqual({ kind: 'failed', status: 'Failed' });
    expect(sqs.sent).toEqual([]);
    const [event] = eventBridge.events();
    expect(event?.DetailType).toBe('Proxy Upgrade Failed');
    const detail = jobFailedDetailSchema.parse(event?.Detail);
    expect(detail).toMatchObject({
      event_id: V8_ID,
      error: { error_code: 'JOB_FAILED', error_msg: 'Insufficient subnet IP addresses.' },
      workflow_id: tracked.workflow_id,
      fail_reason: 'Insufficient subnet IP addresses.',
      request: tracked.request,
    });
    expect(detail.error).not.toHaveProperty('status');
  });

  it('says the workflow failed when TaurusDB gives no reason', async () => {
    const tracked = trackedSample();
    taurusDb.setJob(tracked.workflow_id, { status: 'Failed', fail_reason: '' });
    await tracker().check(tracked);
    const detail = jobFailedDetailSchema.parse(eventBridge.events()[0]?.Detail);
    expect(detail.fail_reason).toBeNull();
    expect(detail.error.error_msg).toBe('the upgrade workflow failed');
  });

  it('publishes the Failed event of a job whose fail_reason is ~64 KB of bad UTF-8, its texts cut under 8 KiB and marked truncated', async () => {
    const tracked = trackedSample();
    // 65,000 bytes that each decode to U+FFFD: 195,000 bytes of UTF-8, twice in the detail (fail_reason
    // and error.error_msg), so the whole text would not fit in one 256 KB EventBridge entry.
    taurusDb.scriptRead(failedJobWithBadUtf8(tracked.workflow_id, 65_000));

    const report = await tracker().check(tracked);

    expect(report.outcome).toEqual({ kind: 'failed', status: 'Failed' });
    const [event, ...others] = eventBridge.events();
    expect(others).toEqual([]);
    const detail = jobFailedDetailSchema.parse(event?.Detail);
    for (const text of [detail.fail_reason ?? '', detail.error.error_msg]) {
      expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(8 * 1024);
      expect(text).toMatch(/^\uFFFD{2000,}…\[truncated from 195000 bytes\]$/u);
    }
    expect(detail.fail_reason).toBe(detail.error.error_msg);
  });

  it('(the EventBridge stand-in refuses an entry over 256 KB, as PutEvents does)', async () => {
    const oversized = { Source: SOURCE, DetailType: 'Proxy Upgrade Failed', EventBusName: BUS };
    const failure = await eventBridge
      .client()
      .send(
        new PutEventsCommand({
          Entries: [{ ...oversized, Detail: JSON.stringify({ text: '\uFFFD'.repeat(90_000) }) }],
        }),
      )
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ name: 'ValidationException' });
    expect(eventBridge.events()).toEqual([]);
  });

  it('refuses a message whose upgrade was accepted in the future: nothing read, published or queued', async () => {
    // The message would otherwise be re-checked until a time that never comes.
    const tracked = trackedSample({ started_at: '2027-11-27T10:00:00.000Z', attempt: 3 });
    taurusDb.setJob(tracked.workflow_id, { status: 'Running' });

    const failure = await tracker()
      .check(tracked)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ValidationError);
    expect((failure as ValidationError).issues).toEqual([
      { path: expect.stringMatching(/_at$/), message: expect.stringContaining('in the future') },
    ]);
    expect(jobReads()).toBe(0);
    expect(sqs.sendRequests()).toBe(0);
    expect(eventBridge.calls).toEqual([]);
  });

  it('takes a clock a few minutes apart, and an old message (replayed from the dead-letter queue) still ends', async () => {
    const skewed = trackedSample({ started_at: new Date(clock.now + 60_000).toISOString() });
    taurusDb.setJob(skewed.workflow_id, { status: 'Running' });
    expect((await tracker().check(skewed)).outcome.kind).toBe('rechecking');

    const replayed = trackedSample({
      started_at: new Date(clock.now - 10 * 24 * 3600_000).toISOString(),
      attempt: 27,
    });
    expect((await tracker().check(replayed)).outcome.kind).toBe('timed_out');
  });

  it('refuses a message from before any message of ours can be, or with more checks than any schedule reaches by now', async () => {
    const ancient = trackedSample({ started_at: '1970-01-01T00:00:00.000Z' });
    // Ten seconds after the acceptance: every re-check waits at least a second, so at most ten.
    const hurried = trackedSample({ attempt: 5_000 });
    for (const refused of [ancient, hurried]) {
      await expect(tracker().check(refused)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(jobReads()).toBe(0);
    expect(eventBridge.calls).toEqual([]);
    expect(sqs.sendRequests()).toBe(0);
  });

  it('re-checks a job TaurusDB does not show yet instead of failing it', async () => {
    const tracked = trackedSample();
    taurusDb.setJob(tracked.workflow_id, undefined);

    const report = await tracker().check(tracked);

    expect(report.outcome).toMatchObject({ kind: 'rechecking', status: null, delaySeconds: 30 });
    expect(report.outcome).not.toHaveProperty('error');
    expect(jobReads()).toBe(1);
    expect(lastMessage()).toEqual({ ...tracked, attempt: 1 });
    expect(eventBridge.calls).toEqual([]);
  });

  it('gives up once the maximum tracking time is over: Tracking Timed Out, no further re-check', async () => {
    const tracked = trackedSample({ attempt: 24 });
    taurusDb.setJob(tracked.workflow_id, { status: 'Running' });
    clock.now = Date.parse(tracked.started_at) + SCHEDULE.maxSeconds * 1000;

    const report = await tracker().check(tracked);

    expect(report.outcome).toEqual({ kind: 'timed_out', status: 'Running' });
    expect(jobReads()).toBe(1);
    expect(sqs.sent).toEqual([]);
    const [event] = eventBridge.events();
    expect(event?.DetailType).toBe('Proxy Upgrade Tracking Timed Out');
    expect(timedOutDetailSchema.parse(event?.Detail)).toEqual({
      event_id: V8_ID,
      request: tracked.request,
      resolved: tracked.resolved,
      workflow_id: tracked.workflow_id,
      started_at: tracked.started_at,
      max_seconds: 7_200,
      checks: 25,
      last_status: 'Running',
      trigger: tracked.trigger,
      occurred_at: new Date(clock.now).toISOString(),
    });
  });

  it('still reports a job that completed at the last moment as Completed, not Timed Out', async () => {
    const tracked = trackedSample({ attempt: 24 });
    taurusDb.setJob(tracked.workflow_id, { status: 'Completed' });
    clock.now = Date.parse(tracked.started_at) + SCHEDULE.maxSeconds * 1000 + 5_000;
    expect((await tracker().check(tracked)).outcome.kind).toBe('completed');
    expect(eventBridge.events().map((event) => event.DetailType)).toEqual(['Proxy Upgrade Completed']);
  });

  it('re-checks after a failed read (5xx, 403) and names the last error when it finally gives up', async () => {
    const tracked = trackedSample({ attempt: 2 });
    taurusDb.setJob(tracked.workflow_id, { status: 'Running' });
    taurusDb.scriptRead(replies.serverError());

    const afterServerError = await tracker().check(tracked);
    expect(afterServerError.outcome).toMatchObject({
      kind: 'rechecking',
      status: null,
      delaySeconds: 120,
      error: expect.stringContaining('500'),
    });
    expect(observed.metricNames).toContain('TrackingReadFailures');
    expect(observed.logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        attributes: expect.objectContaining({ workflow_id: tracked.workflow_id }),
      }),
    );

    taurusDb.scriptRead(replies.error(403, 'DBS.200003', 'The operation is not allowed for this user.'));
    clock.now = Date.parse(tracked.started_at) + SCHEDULE.maxSeconds * 1000;
    const final = await tracker().check(lastMessage());
    expect(final.outcome).toMatchObject({ kind: 'timed_out', status: null });
    const detail = timedOutDetailSchema.parse(eventBridge.events()[0]?.Detail);
    expect(detail.last_status).toBeNull();
    expect(detail.last_error).toMatch(/403.*DBS\.200003|DBS\.200003.*403/);
    expect(detail.checks).toBe(4);
  });

  describe('of an unconfirmed upgrade (no workflow: the proxy version is followed)', () => {
    const BELOW = { current_version: '2.23.12.000', latest_version: '2.24.03.000', can_upgrade: true };
    let versionReadsBefore = 0;
    const versionReads = () => taurusDb.reads('version') - versionReadsBefore;
    beforeEach(() => {
      versionReadsBefore = taurusDb.reads('version');
    });

    function setVersion(tracked: FollowedVersion, version: typeof BELOW) {
      taurusDb.setProxyVersion(tracked.request.instance_id, tracked.request.proxy_id, version);
    }

    it('reads the documented version path, re-checks while the proxy is below the target, and never reads a job', async () => {
      const tracked = trackedVersionSample();
      setVersion(tracked, BELOW);

      const report = await tracker().check(tracked);

      expect(report).toMatchObject({
        follow: 'version',
        workflowId: null,
        outcome: { kind: 'rechecking', status: '2.23.12.000', delaySeconds: 30 },
      });
      const { project_id, instance_id, proxy_id } = tracked.request;
      expect(taurusDb.requests.at(-1)).toMatchObject({
        method: 'GET',
        url: `/v3/${project_id}/instances/${instance_id}/proxy/${proxy_id}/taurusproxy/proxy-version`,
      });
      expect(versionReads()).toBe(1);
      expect(jobReads()).toBe(0);
      expect(lastMessage()).toEqual({ ...tracked, attempt: 1 });
      expect(eventBridge.calls).toEqual([]);
    });

    it('publishes Completed with workflow_id and job null once the proxy is past the target', async () => {
      const tracked = trackedVersionSample({ attempt: 4 });
      const past = { current_version: '2.25.1.0', latest_version: '2.25.01.000', can_upgrade: false };
      setVersion(tracked, past);

      const report = await tracker().check(tracked);

      expect(report.outcome).toEqual({ kind: 'completed', status: '2.25.1.0' });
      expect(sqs.sent).toEqual([]);
      const [event] = eventBridge.events();
      expect(event?.DetailType).toBe('Proxy Upgrade Completed');
      expect(completedDetailSchema.parse(event?.Detail)).toMatchObject({
        workflow_id: null,
        job: null,
        versions: past,
        resolved: tracked.resolved,
        occurred_at: new Date(clock.now).toISOString(),
      });
      expect(observed.metricNames).toContain('UpgradesCompleted');
    });

    it('counts a version that is not a dotted number as a failed read, then times out naming it', async () => {
      const tracked = trackedVersionSample({ attempt: 24 });
      setVersion(tracked, { ...BELOW, current_version: 'v2.24-beta' });
      clock.now = Date.parse(tracked.started_at) + SCHEDULE.maxSeconds * 1000;

      const report = await tracker().check(tracked);

      expect(report.outcome).toMatchObject({ kind: 'timed_out', status: null, error: expect.any(String) });
      const detail = timedOutDetailSchema.parse(eventBridge.events()[0]?.Detail);
      expect(detail).toMatchObject({ workflow_id: null, last_status: null, last_versions: null, checks: 25 });
      expect(detail.last_error).toMatch(/not a dotted version number/);
      expect(detail.last_error).not.toContain('beta');
    });

    it('times out with the versions the last check read', async () => {
      const tracked = trackedVersionSample({ attempt: 24 });
      setVersion(tracked, BELOW);
      clock.now = Date.parse(tracked.started_at) + SCHEDULE.maxSeconds * 1000;

      expect((await tracker().check(tracked)).outcome).toEqual({ kind: 'timed_out', status: '2.23.12.000' });
      const detail = timedOutDetailSchema.parse(eventBridge.events()[0]?.Detail);
      expect(detail).toMatchObject({
        last_versions: BELOW,
        last_status: null,
        started_at: tracked.started_at,
      });
      expect(detail).not.toHaveProperty('last_error');
    });
  });

  describe('event ids: one id names one content', () => {
    it('gives two Timed Out events of one job that differ (checks, last_status, occurred_at) two ids', async () => {
      // Two chains follow the same workflow (the Accepted event was delivered twice); both give up.
      const tracked = trackedSample();
      taurusDb.setJob(tracked.workflow_id, { status: 'Running' }, { status: 'Pending' });
      clock.now = Date.parse(tracked.started_at) + SCHEDULE.maxSeconds * 1000;
      await tracker().check({ ...tracked, attempt: 24 });
      clock.now += 30_000;
      await tracker().check({ ...tracked, attempt: 22 });

      const [first, second] = eventBridge.events().map((event) => timedOutDetailSchema.parse(event.Detail));
      expect(first?.checks).not.toBe(second?.checks);
      expect(first?.event_id).not.toBe(second?.event_id);
    });

    it('gives the Completed event two chains see of one job the same id: the same facts, the same event', async () => {
      const tracked = trackedSample();
      taurusDb.setJob(tracked.workflow_id, { status: 'Completed' });
      await tracker().check({ ...tracked, attempt: 3 });
      clock.now += 95_000;
      await tracker().check({ ...tracked, attempt: 2 });

      const [first, second, ...others] = eventBridge.events();
      expect(others).toEqual([]);
      // The job's own end time dates both, so they are the same event, field for field.
      expect(second?.Detail).toEqual(first?.Detail);
      expect(completedDetailSchema.parse(first?.Detail).event_id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    });

    it('names each event by its content: the id is the content address of the published Detail', async () => {
      const tracked = trackedSample({ attempt: 24 });
      taurusDb.setJob(tracked.workflow_id, { status: 'Running' });
      clock.now = Date.parse(tracked.started_at) + SCHEDULE.maxSeconds * 1000;
      await tracker().check(tracked);
      const [event] = eventBridge.events();
      const detail = event?.Detail as { event_id: string };
      expect(detail.event_id).toBe(
        contentEventId(
          'taurusdb-proxy-upgrader/tracking-event/v2',
          'Proxy Upgrade Tracking Timed Out',
          detail,
        ),
      );
    });
  });

  it('fails the check, queueing nothing, when the outcome cannot be published (the delivery is retried)', async () => {
    const tracked = trackedSample();
    taurusDb.setJob(tracked.workflow_id, { status: 'Completed' });
    eventBridge.script({ failDetailType: 'Proxy Upgrade Completed', errorCode: 'AccessDeniedException' });

    await expect(tracker().check(tracked)).rejects.toBeInstanceOf(PublishError);
    expect(sqs.sent).toEqual([]);
  });

  it('fails the check when the re-check cannot be queued, naming the workflow and not the message', async () => {
    const tracked = trackedSample();
    taurusDb.setJob(tracked.workflow_id, { status: 'Running' });
    sqs.fail({
      status: 500,
      type: 'com.amazon.coral.service#InternalFailure',
      message: 'We encountered an internal error.',
    });

    const failure = await tracker()
      .check(tracked)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(PublishError);
    expect((failure as Error).message).toContain(`workflow ${tracked.workflow_id}`);
    expect((failure as Error).message).not.toContain(tracked.trigger.id);
    expect(sqs.sendRequests()).toBe(1);
    expect(eventBridge.calls).toEqual([]);
  });

  it('lets the caller end the read (no time left): the check throws and queues nothing, so the message comes back', async () => {
    const tracked = trackedSample();
    taurusDb.setJob(tracked.workflow_id, { status: 'Running' });

    const failure = await tracker()
      .check(tracked, AbortSignal.abort(new Error('no time left')))
      .catch((error: unknown) => error);

    expect((failure as Error).message).toMatch(/abandoned by the caller/);
    expect(sqs.sendRequests()).toBe(0);
    expect(eventBridge.calls).toEqual([]);
  });
});
