import { randomUUID } from 'node:crypto';
import type { SQSBatchResponse } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  completedDetailSchema,
  jobFailedDetailSchema,
  timedOutDetailSchema,
} from '../../lib/events/contract.ts';
import { DETAIL_TYPES } from '../../lib/events/detail-types.ts';
import { parseTrackedMessage } from '../../lib/tracking/message.ts';
import type { ReceivedEntry } from '../../stand-ins/eventbridge.ts';
import { sqsEvent } from '../../stand-ins/sqs.ts';
import { replies, SEED_ACCEPT_ITEM } from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { acceptedEvent, trackedSample } from '../support/tracking.ts';
import {
  EVENT_BUS_NAME,
  sample,
  signedHttpEvent,
  startWorld,
  type TrackingWorld,
  type World,
} from '../support/world.ts';

const SOURCE = 'taurusdb.proxy-upgrader';

/** An entry the upgrade function published, as the `Proxy Upgrade Accepted` rule hands it to the tracker. */
function asDelivered(entry: ReceivedEntry) {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [],
    detail: entry.Detail,
  };
}

describe('the tracking function (functions/track.ts) with every collaborator on 127.0.0.1', () => {
  let world: World;
  let tracking: TrackingWorld;
  let readsBefore = 0;
  const jobReads = () => world.taurusDb.reads('jobs') - readsBefore;

  beforeAll(async () => {
    // The password form, so the tracker gets its token from IAM and every issued token is checked
    // against the logs when the world closes.
    world = await startWorld({ tracking: true, credentials: 'password' });
    tracking = world.tracking as TrackingWorld;
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.eventBridge.reset();
    tracking.sqs.reset();
    readsBefore = world.taurusDb.reads('jobs');
  });

  /** Delivers the re-checks sent so far, as the queue's event source mapping would once they are due. */
  async function deliverRechecks(handler = tracking.handler): Promise<SQSBatchResponse> {
    return (await handler(tracking.sqs.receive(), lambdaContext())) as SQSBatchResponse;
  }

  it('follows an upgrade the upgrade function accepted, Pending → Running → Completed, without waiting in between', async () => {
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));
    expect(answer.statusCode).toBe(200);
    const [accepted] = world.eventBridge.events();
    expect(accepted?.DetailType).toBe(DETAIL_TYPES.accepted);
    world.eventBridge.reset();
    world.taurusDb.setJob(
      SEED_ACCEPT_ITEM.workflow_id,
      { status: 'Pending' },
      { status: 'Running' },
      { status: 'Completed' },
    );

    // The first check runs on the Accepted event itself.
    expect(await tracking.invoke(asDelivered(accepted as ReceivedEntry))).toEqual({
      follow: 'workflow',
      workflow_id: SEED_ACCEPT_ITEM.workflow_id,
      attempt: 0,
      outcome: 'rechecking',
    });
    expect(jobReads()).toBe(1);
    expect(tracking.sqs.sent.map((message) => message.delaySeconds)).toEqual([30]);

    expect(await deliverRechecks()).toEqual({ batchItemFailures: [] });
    expect(jobReads()).toBe(2);
    expect(tracking.sqs.sent.map((message) => message.delaySeconds)).toEqual([30, 60]);
    expect(world.eventBridge.calls).toEqual([]);

    expect(await deliverRechecks()).toEqual({ batchItemFailures: [] });
    expect(jobReads()).toBe(3);
    expect(tracking.sqs.sent).toHaveLength(2);

    const [completed, ...others] = world.eventBridge.events();
    expect(others).toEqual([]);
    expect(completed).toMatchObject({
      Source: SOURCE,
      EventBusName: EVENT_BUS_NAME,
      DetailType: 'Proxy Upgrade Completed',
    });
    const detail = completedDetailSchema.parse(completed?.Detail);
    const acceptedDetail = accepted?.Detail as {
      event_id: string;
      request: unknown;
      resolved: unknown;
      trigger: unknown;
    };
    expect(detail).toMatchObject({
      event_id: expect.stringMatching(
        /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      ),
      request: acceptedDetail.request,
      resolved: acceptedDetail.resolved,
      trigger: acceptedDetail.trigger,
      workflow_id: SEED_ACCEPT_ITEM.workflow_id,
      job: { status: 'Completed' },
    });
    // The job reads went out with the token IAM issued for the request's project.
    const read = world.taurusDb.requests.filter((request) => request.url.includes('/jobs?')).at(-1);
    expect(world.iam.issuedTokens.map((issued) => issued.token)).toContain(read?.headers['x-auth-token']);
  });

  it('names the followed upgrade on its log lines: the proxy, the delivery and the change', async () => {
    const event = acceptedEvent();
    // The sample was accepted long ago, so this check gives up: one warning about the upgrade.
    world.taurusDb.setJob(event.detail.result.workflow_id, { status: 'Running' });
    const before = world.logLines().length;
    await tracking.invoke(event);
    const lines = world
      .logLines()
      .slice(before)
      .filter((line): line is Record<string, unknown> => typeof line === 'object' && line !== null)
      .filter((line) => typeof line.level === 'string');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      workflow_id: event.detail.result.workflow_id,
      project_id: event.detail.request.project_id,
      instance_id: event.detail.request.instance_id,
      proxy_id: event.detail.request.proxy_id,
      delivery_id: event.detail.trigger.id,
      change_id: event.detail.trigger.change_id,
    });
  });

  it('publishes Proxy Upgrade Failed with the fail_reason of a failed workflow', async () => {
    const event = acceptedEvent();
    world.taurusDb.setJob(event.detail.result.workflow_id, {
      status: 'Failed',
      fail_reason: 'The proxy instance is abnormal.',
    });

    expect(await tracking.invoke(event)).toMatchObject({ outcome: 'failed' });

    const [failed] = world.eventBridge.events();
    expect(failed?.DetailType).toBe('Proxy Upgrade Failed');
    expect(jobFailedDetailSchema.parse(failed?.Detail)).toMatchObject({
      error: { error_code: 'JOB_FAILED', error_msg: 'The proxy instance is abnormal.' },
      fail_reason: 'The proxy instance is abnormal.',
      workflow_id: event.detail.result.workflow_id,
    });
    expect(tracking.sqs.sent).toEqual([]);
  });

  it('re-checks a workflow TaurusDB does not show yet, and reports it once it does', async () => {
    const event = acceptedEvent();
    world.taurusDb.setJob(event.detail.result.workflow_id, undefined, { status: 'Completed' });
    // Seconds after the sample's acceptance: Huawei says a new job may take that long to appear.
    const handler = tracking.handlerWithClock(() => Date.parse(event.detail.occurred_at) + 2_000);

    expect(await handler(event, lambdaContext())).toMatchObject({ outcome: 'rechecking' });
    expect(jobReads()).toBe(1);
    expect(world.eventBridge.calls).toEqual([]);
    expect(tracking.sqs.sent.map((message) => message.delaySeconds)).toEqual([30]);

    expect(await deliverRechecks(handler)).toEqual({ batchItemFailures: [] });
    expect(world.eventBridge.events().map((entry) => entry.DetailType)).toEqual(['Proxy Upgrade Completed']);
  });

  it('gives up with Proxy Upgrade Tracking Timed Out once the maximum tracking time is over', async () => {
    const event = acceptedEvent();
    world.taurusDb.setJob(event.detail.result.workflow_id, { status: 'Running' });
    const acceptedAt = Date.parse(event.detail.occurred_at);
    const clock = { now: acceptedAt + 60_000 };
    const handler = tracking.handlerWithClock(() => clock.now);

    await handler(event, lambdaContext());
    expect(tracking.sqs.sent).toHaveLength(1);

    clock.now = acceptedAt + 7_200_000;
    expect(await deliverRechecks(handler)).toEqual({ batchItemFailures: [] });

    expect(tracking.sqs.sent).toHaveLength(1);
    const [timedOut] = world.eventBridge.events();
    expect(timedOut?.DetailType).toBe('Proxy Upgrade Tracking Timed Out');
    expect(timedOutDetailSchema.parse(timedOut?.Detail)).toMatchObject({
      started_at: event.detail.occurred_at,
      max_seconds: 7200,
      checks: 2,
      last_status: 'Running',
    });
  });

  it('fails only the records of a batch that could not be handled, so the others are not redriven', async () => {
    const base = parseTrackedMessage(sample('tracking-sqs-recheck.json').Records[0].body);
    const running = { ...base, workflow_id: 'wf-running-0001' };
    const completed = { ...base, workflow_id: 'wf-completed-0002' };
    world.taurusDb.setJob(running.workflow_id, { status: 'Running' });
    world.taurusDb.setJob(completed.workflow_id, { status: 'Completed' });
    world.eventBridge.script({
      failDetailType: 'Proxy Upgrade Completed',
      errorCode: 'AccessDeniedException',
    });
    const message = (id: string, body: string) => ({
      queueName: 'tracking',
      messageId: id,
      body,
      sentAt: Date.now(),
    });
    const batch = sqsEvent([
      message('m-running', JSON.stringify(running)),
      message('m-garbled', '{"version":1,"workflow_id":'),
      message('m-unpublishable', JSON.stringify(completed)),
    ]);
    const handler = tracking.handlerWithClock(() => Date.parse(base.started_at) + 120_000);

    const response = (await handler(batch, lambdaContext())) as SQSBatchResponse;

    expect(response.batchItemFailures.map((failure) => failure.itemIdentifier).sort()).toEqual([
      'm-garbled',
      'm-unpublishable',
    ]);
    expect(tracking.sqs.sent.map((sent) => parseTrackedMessage(sent.body).workflow_id)).toEqual([
      running.workflow_id,
    ]);
    const logged = world
      .logLines()
      .filter((line): line is Record<string, unknown> => typeof line === 'object');
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message_id: 'm-garbled',
        message: expect.stringContaining('dead-letter'),
      }),
    );
  });

  it('reports a message accepted in the future as a batch item failure, queueing no re-check, so it ends in the dead-letter queue', async () => {
    const base = trackedSample({ attempt: 1 });
    const future = { ...base, started_at: '2027-11-27T10:00:00.000Z' };
    world.taurusDb.setJob(future.workflow_id, { status: 'Running' });
    const handler = tracking.handlerWithClock(() => Date.parse(base.started_at) + 120_000);
    const batch = sqsEvent([
      { queueName: 'tracking', messageId: 'm-future', body: JSON.stringify(future), sentAt: Date.now() },
    ]);

    expect(await handler(batch, lambdaContext())).toEqual({
      batchItemFailures: [{ itemIdentifier: 'm-future' }],
    });

    expect(jobReads()).toBe(0);
    expect(tracking.sqs.sent).toEqual([]);
    expect(world.eventBridge.calls).toEqual([]);
    const logged = world
      .logLines()
      .filter((line): line is Record<string, unknown> => typeof line === 'object');
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 'ERROR',
        message_id: 'm-future',
        message: expect.stringContaining('dead-letter'),
        error: expect.objectContaining({ message: expect.stringContaining('in the future') }),
      }),
    );
  });

  it('follows an Unconfirmed upgrade by its proxy version, below the target → at it: Completed with no workflow', async () => {
    const event = sample('tracking-unconfirmed-event.json');
    const { instance_id: instance, proxy_id: proxy } = event.detail.request;
    const clock = { now: Date.parse(event.detail.occurred_at) };
    const handler = tracking.handlerWithClock(() => clock.now);
    const versionReads = world.taurusDb.reads('version');
    world.taurusDb.setProxyVersion(instance, proxy, {
      current_version: '2.23.12.000',
      latest_version: '2.24.03.000',
      can_upgrade: true,
    });

    expect(await handler(event, lambdaContext())).toEqual({
      follow: 'version',
      workflow_id: null,
      attempt: 0,
      outcome: 'rechecking',
    });
    expect(world.taurusDb.reads('version') - versionReads).toBe(1);
    expect(tracking.sqs.sent.map((message) => message.delaySeconds)).toEqual([30]);
    expect(world.eventBridge.calls).toEqual([]);

    // The upgrade the earlier attempt sent did run: the proxy is at the target now.
    const reached = { current_version: '2.24.3.0', latest_version: '2.24.03.000', can_upgrade: false };
    world.taurusDb.setProxyVersion(instance, proxy, reached);
    clock.now += 30_000;
    expect(await deliverRechecks(handler)).toEqual({ batchItemFailures: [] });

    expect(world.taurusDb.reads('version') - versionReads).toBe(2);
    expect(jobReads()).toBe(0);
    expect(tracking.sqs.sent).toHaveLength(1);
    const [completed, ...others] = world.eventBridge.events();
    expect(others).toEqual([]);
    expect(completed).toMatchObject({ Source: SOURCE, DetailType: 'Proxy Upgrade Completed' });
    expect(completedDetailSchema.parse(completed?.Detail)).toEqual({
      event_id: expect.stringMatching(
        /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      ),
      request: event.detail.request,
      resolved: event.detail.resolved,
      workflow_id: null,
      job: null,
      versions: reached,
      trigger: event.detail.trigger,
      occurred_at: new Date(clock.now).toISOString(),
    });
  });

  it('gives up on an Unconfirmed upgrade whose proxy never reaches the target: Tracking Timed Out, counted from sending_at', async () => {
    const event = sample('tracking-unconfirmed-event.json');
    const { instance_id: instance, proxy_id: proxy } = event.detail.request;
    const below = { current_version: '2.23.12.000', latest_version: '2.24.03.000', can_upgrade: true };
    world.taurusDb.setProxyVersion(instance, proxy, below);
    const sendingAt = Date.parse(event.detail.sending_at);
    const clock = { now: Date.parse(event.detail.occurred_at) };
    const handler = tracking.handlerWithClock(() => clock.now);

    await handler(event, lambdaContext());
    // One check short of the maximum tracking time after sending_at (not after the event): still following.
    clock.now = sendingAt + 7_200_000 - 1_000;
    expect(await deliverRechecks(handler)).toEqual({ batchItemFailures: [] });
    expect(tracking.sqs.sent.map((message) => message.delaySeconds)).toEqual([30, 1]);
    world.taurusDb.scriptRead(
      replies.error(403, 'DBS.200003', 'The operation is not allowed for this user.'),
    );
    clock.now = sendingAt + 7_200_000;
    expect(await deliverRechecks(handler)).toEqual({ batchItemFailures: [] });

    expect(tracking.sqs.sent).toHaveLength(2);
    const [timedOut, ...others] = world.eventBridge.events();
    expect(others).toEqual([]);
    expect(timedOut?.DetailType).toBe('Proxy Upgrade Tracking Timed Out');
    expect(timedOutDetailSchema.parse(timedOut?.Detail)).toMatchObject({
      workflow_id: null,
      request: event.detail.request,
      started_at: event.detail.sending_at,
      max_seconds: 7200,
      checks: 3,
      last_status: null,
      // The last read failed: no versions, and why.
      last_versions: null,
      last_error: expect.stringContaining('DBS.200003'),
      occurred_at: new Date(clock.now).toISOString(),
    });
  });

  it('takes the events/ samples of an Unconfirmed upgrade: the event and an SQS re-check of its version', async () => {
    const event = sample('tracking-unconfirmed-event.json');
    const handler = tracking.handlerWithClock(() => Date.parse(event.detail.occurred_at) + 60_000);
    world.taurusDb.setProxyVersion(event.detail.request.instance_id, event.detail.request.proxy_id, {
      current_version: '2.23.12.000',
      latest_version: '2.24.03.000',
      can_upgrade: true,
    });

    expect(await handler(event, lambdaContext())).toMatchObject({ follow: 'version', outcome: 'rechecking' });
    expect(await handler(sample('tracking-sqs-recheck-version.json'), lambdaContext())).toEqual({
      batchItemFailures: [],
    });
    expect(tracking.sqs.sent.map((sent) => parseTrackedMessage(sent.body))).toMatchObject([
      { follow: 'version', attempt: 1 },
      { follow: 'version', attempt: 2 },
    ]);
  });

  it('takes the events/ samples: the Accepted event and an SQS re-check', async () => {
    const event = sample('tracking-accepted-event.json');
    const acceptedAt = Date.parse(event.detail.occurred_at);
    const handler = tracking.handlerWithClock(() => acceptedAt + 90_000);
    world.taurusDb.setJob(event.detail.result.workflow_id, { status: 'Running' });

    expect(await handler(event, lambdaContext())).toMatchObject({ outcome: 'rechecking' });
    expect(await handler(sample('tracking-sqs-recheck.json'), lambdaContext())).toEqual({
      batchItemFailures: [],
    });
    expect(tracking.sqs.sent.map((sent) => parseTrackedMessage(sent.body).attempt)).toEqual([1, 2]);
  });

  it('refuses events that are not Accepted or Unconfirmed events of this service, reading nothing', async () => {
    const event = acceptedEvent();
    const versionReads = world.taurusDb.reads('version');
    const unconfirmed = sample('tracking-unconfirmed-event.json');
    const refusals = [
      { ...event, source: 'com.example.somebody-else' },
      { ...unconfirmed, source: 'com.example.somebody-else' },
      { ...event, 'detail-type': DETAIL_TYPES.rejected },
      { upgrades: [] },
    ];
    for (const refused of refusals) {
      await expect(tracking.invoke(refused)).rejects.toBeInstanceOf(world.errors.UnknownEventError);
    }
    expect(jobReads()).toBe(0);
    expect(world.taurusDb.reads('version')).toBe(versionReads);
  });

  it('refuses an Accepted event without a workflow id, so it ends in the dead-letter queue, reading nothing', async () => {
    const event = acceptedEvent();
    event.detail.result.workflow_id = null;
    const failure = await tracking.invoke(event).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(world.errors.ValidationError);
    expect((failure as Error).message).toContain('detail.result.workflow_id');
    expect(jobReads()).toBe(0);
  });
});
