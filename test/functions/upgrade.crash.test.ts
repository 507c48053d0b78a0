/**
 * A real crash (issue 12, "never twice, even when our own side fails"): the deployed handler runs in
 * a child Node process (test/support/handler-child.ts) that the TaurusDB stand-in kills with SIGKILL
 * the moment the upgrade POST reaches it, before any answer. Nothing of the handler runs after that:
 * no completion write, no PutEvents, no `finally`. What it leaves behind in DynamoDB (dynalite, over
 * the real protocol) is what a lost Lambda sandbox leaves: a Powertools in-progress record that
 * expires with the invocation's remaining time, and the step's sending record.
 *
 * The same delivery then comes back twice, as a webhook sender or EventBridge retries it: the first
 * redelivery must reconcile (read the proxy version, never POST again) and publish Unconfirmed or
 * Skipped; the second replays that outcome. Every wait is a poll with a deadline.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  completedDetailSchema,
  skippedDetailSchema,
  unconfirmedDetailSchema,
} from '../../lib/events/contract.ts';
import { DETAIL_TYPES } from '../../lib/events/detail-types.ts';
import type { ReceivedEntry } from '../../stand-ins/eventbridge.ts';
import { type HandlerProcessEnd, startHandlerProcess } from '../support/handler-process.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { eventsFor, inProgressExpired, postsTo, within } from '../support/redelivery.ts';
import { leakedSecrets } from '../support/secret-leaks.ts';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
const SOURCE_VERSION = '2.23.12.000';
const TARGET_VERSION = '2.24.03.000';
/** The crashed invocation's remaining time: its in-progress record expires this long after it starts. */
const CRASH_REMAINING_MS = 2_000;
const CHILD_DEADLINE_MS = 15_000;

/** An entry the upgrade function published, as its EventBridge rule hands it to the tracker. */
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

describe('an invocation killed the moment TaurusDB has its upgrade POST (a child process, SIGKILL)', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ idempotency: true, tracking: true });
  });
  afterAll(() => world.close());
  afterEach(() => {
    world.taurusDb.onUpgrade(undefined);
  });

  /**
   * Runs `event` in a child with a short Lambda deadline; the stand-in kills it when its POST arrives
   * and leaves the POST unanswered. `onPost` is TaurusDB's side of it (e.g. the upgrade goes on).
   */
  async function crashOnPost(
    event: unknown,
    onPost: () => void = () => undefined,
  ): Promise<HandlerProcessEnd> {
    const child = startHandlerProcess({ event, remainingMs: CRASH_REMAINING_MS });
    world.taurusDb.onUpgrade(() => {
      child.kill();
      onPost();
      return 'no-answer';
    });
    const end = await within(child.ended, CHILD_DEADLINE_MS, 'the child process ending');
    world.taurusDb.onUpgrade(undefined);
    expect(leakedSecrets(end.output, world.secrets)).toEqual([]);
    return end;
  }

  async function recordIds(): Promise<Set<unknown>> {
    return new Set(((await world.dynalite?.scan()) ?? []).map((item) => item.id));
  }

  /** What the crash added: a step still in progress (until its expiry) and the step's sending record. */
  async function leftBehind(before: Set<unknown>) {
    const items = ((await world.dynalite?.scan()) ?? []).filter((item) => !before.has(item.id));
    return {
      inProgress: items.filter((item) => item.status === 'INPROGRESS'),
      sending: items.filter((item) => String(item.id).includes('.sending#')),
    };
  }

  it('a webhook: the redelivery reconciles to Unconfirmed with what the read found, never a second POST; the next one replays it', async () => {
    const body = { ...REQUEST, proxy_id: 'crash-webhook-proxy' };
    const id = 'msg_crash_webhook_1';
    const before = await recordIds();
    const crashed = await crashOnPost(signedHttpEvent(world, 'http-api-v2.json', body, { id }));
    expect(crashed.signal).toBe('SIGKILL');
    expect(crashed.result).toBeUndefined();
    expect(postsTo(world, body.proxy_id)).toBe(1);
    expect(eventsFor(world, body.proxy_id)).toEqual([]);
    const left = await leftBehind(before);
    expect(left.inProgress).toHaveLength(1);
    expect(left.sending).toHaveLength(1);

    await inProgressExpired(world);
    // The first redelivery in another process (a new sandbox), freshly signed with the same id.
    const again = await within(
      startHandlerProcess({
        event: signedHttpEvent(world, 'http-api-v2.json', body, { id }),
        remainingMs: 29_000,
      }).ended,
      CHILD_DEADLINE_MS,
      'the redelivery',
    );
    expect(leakedSecrets(again.output, world.secrets)).toEqual([]);
    const answer = again.result as { statusCode: number; body: string };
    expect(answer.statusCode).toBe(200);
    const [outcome] = JSON.parse(answer.body).outcomes;
    expect(outcome).toMatchObject({ outcome: 'unconfirmed', replayed: false });

    const [unconfirmed, ...others] = eventsFor(world, body.proxy_id);
    expect(others).toEqual([]);
    expect(unconfirmed?.DetailType).toBe(DETAIL_TYPES.unconfirmed);
    const detail = unconfirmedDetailSchema.parse(unconfirmed?.Detail);
    expect(detail).toMatchObject({
      event_id: outcome.event_ids[0],
      request: { proxy_id: body.proxy_id, target_version: TARGET_VERSION },
      resolved: { source_version: SOURCE_VERSION, target_version: TARGET_VERSION },
      versions: { current_version: SOURCE_VERSION, latest_version: TARGET_VERSION },
      trigger: { kind: 'http', id },
      sending_at: left.sending[0]?.sending_at,
    });

    const replay = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', body, { id }));
    expect(replay.statusCode).toBe(200);
    expect(replay.json.outcomes[0]).toMatchObject({
      outcome: 'unconfirmed',
      replayed: true,
      event_ids: outcome.event_ids,
    });
    expect(eventsFor(world, body.proxy_id)).toEqual([unconfirmed, unconfirmed]);
    expect(postsTo(world, body.proxy_id)).toBe(1);
  });

  it('a pipeline event whose upgrade went on after the crash: the redelivery (same event id) finds the target version and skips; the next one replays it', async () => {
    const request = { ...REQUEST, proxy_id: 'crash-pipeline-proxy' };
    const event = {
      ...sample('pipeline-event.json'),
      id: 'c7a5b0e4-0000-4000-8000-00000000c001',
      detail: { upgrades: [request] },
    };
    const crashed = await crashOnPost(event, () =>
      // TaurusDB got the POST and upgrades the proxy, whatever happened to the caller.
      world.taurusDb.setProxyVersion(request.instance_id, request.proxy_id, {
        current_version: TARGET_VERSION,
        latest_version: TARGET_VERSION,
        can_upgrade: false,
      }),
    );
    expect(crashed.signal).toBe('SIGKILL');
    expect(postsTo(world, request.proxy_id)).toBe(1);

    await inProgressExpired(world);
    const first = (await world.invoke(event)) as { outcomes: Array<Record<string, unknown>> };
    const second = (await world.invoke(event, lambdaContext())) as typeof first;
    expect(postsTo(world, request.proxy_id)).toBe(1);
    expect(first.outcomes).toEqual([expect.objectContaining({ outcome: 'skipped', replayed: false })]);
    expect(second.outcomes).toEqual([
      expect.objectContaining({
        outcome: 'skipped',
        replayed: true,
        event_ids: first.outcomes[0]?.event_ids,
      }),
    ]);
    const [skipped, republished, ...others] = eventsFor(world, request.proxy_id);
    expect(others).toEqual([]);
    expect(republished).toEqual(skipped);
    expect(skipped?.DetailType).toBe(DETAIL_TYPES.skipped);
    expect(skippedDetailSchema.parse(skipped?.Detail)).toMatchObject({
      versions: { current_version: TARGET_VERSION },
      trigger: { kind: 'event', id: event.id },
    });
  });

  it('the tracker follows the Unconfirmed upgrade the crash left by its proxy version: Completed, workflow_id null, once the proxy reaches the target', async () => {
    const body = { ...REQUEST, proxy_id: 'crash-tracked-proxy' };
    const id = 'msg_crash_tracked_1';
    expect((await crashOnPost(signedHttpEvent(world, 'http-api-v2.json', body, { id }))).signal).toBe(
      'SIGKILL',
    );
    await inProgressExpired(world);
    const again = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', body, { id }));
    expect(again.json.outcomes[0].outcome).toBe('unconfirmed');
    const [unconfirmed] = eventsFor(world, body.proxy_id);
    const tracking = world.tracking;
    if (tracking === undefined || unconfirmed === undefined)
      throw new Error('no tracker or no Unconfirmed event');
    tracking.sqs.reset();

    // Still at the source version: the upgrade may be running, so the tracker checks again later.
    expect(await tracking.invoke(asDelivered(unconfirmed))).toMatchObject({
      follow: 'version',
      workflow_id: null,
      outcome: 'rechecking',
    });
    expect(eventsFor(world, body.proxy_id).map((entry) => entry.DetailType)).toEqual([
      DETAIL_TYPES.unconfirmed,
    ]);

    const reached = { current_version: TARGET_VERSION, latest_version: TARGET_VERSION, can_upgrade: false };
    world.taurusDb.setProxyVersion(body.instance_id, body.proxy_id, reached);
    // The queue hands the re-check over once its delay (30 s) has passed: the tracker's clock says so.
    const later = tracking.handlerWithClock(() => Date.now() + 30_000);
    expect(await later(tracking.sqs.receive(), lambdaContext())).toEqual({ batchItemFailures: [] });
    const [, completed, ...others] = eventsFor(world, body.proxy_id);
    expect(others).toEqual([]);
    expect(completed?.DetailType).toBe('Proxy Upgrade Completed');
    expect(completedDetailSchema.parse(completed?.Detail)).toMatchObject({
      request: (unconfirmed.Detail as { request: unknown }).request,
      workflow_id: null,
      job: null,
      versions: reached,
      trigger: { kind: 'http', id },
    });
    expect(postsTo(world, body.proxy_id)).toBe(1);
  });
});
