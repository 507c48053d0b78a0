import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { targetOf } from '../../lib/upgrade/request.ts';
import { replies } from '../../stand-ins/taurusdb.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import {
  EVENT_BUS_NAME,
  STATIC_TOKEN,
  sample,
  signedHttpEvent,
  startWorld,
  type World,
} from '../support/world.ts';

const SINGLE = sample('http-api-v2.json');
const REQUEST = JSON.parse(SINGLE.body);
const BATCH = sample('pipeline-event.json').detail;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
// The sample proxy at the sample's source version, a newer version than the sample's target available.
const VERSIONS = { current_version: '2.23.12.000', latest_version: '2.24.09.000', can_upgrade: true };
const RESOLVED = { source_version: REQUEST.source_version, target_version: REQUEST.target_version };

describe('the upgrade handler, one trigger kind at a time', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.forgetTraffic();
  });

  it('HTTP API (payload 2.0): the exact upstream call, a 200 outcome and the exact event', async () => {
    world.taurusDb.setProxyVersion(REQUEST.instance_id, REQUEST.proxy_id, VERSIONS);
    world.taurusDb.script(replies.accept({ instance_id: REQUEST.instance_id, workflow_id: 'wf-0001' }));
    const event = signedHttpEvent(world, 'http-api-v2.json', undefined, { id: 'msg_v2_0001' });
    const answer = await world.invokeHttp(event);

    // The version read first (GET .../taurusproxy/proxy-version), then the upgrade.
    const [read, wire] = world.taurusDb.requests;
    expect(world.taurusDb.requests).toHaveLength(2);
    expect(read?.method).toBe('GET');
    expect(read?.url).toBe(
      `/v3/${REQUEST.project_id}/instances/${REQUEST.instance_id}/proxy/${REQUEST.proxy_id}/taurusproxy/proxy-version`,
    );
    expect(read?.headers['x-auth-token']).toBe(STATIC_TOKEN);
    expect(wire?.method).toBe('POST');
    expect(wire?.url).toBe(
      `/v3/${REQUEST.project_id}/instances/${REQUEST.instance_id}/proxy/${REQUEST.proxy_id}/upgrade-version`,
    );
    expect(wire?.headers['x-auth-token']).toBe(STATIC_TOKEN);
    expect(wire?.headers['x-language']).toBe('en-us');
    expect(wire?.headers['content-type']).toBe('application/json');
    expect(wire?.body).toBe('{"source_version":"2.23.12.000","target_version":"2.24.03.000"}');

    expect(answer.statusCode).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    const [outcome] = answer.json.outcomes;
    expect(answer.json.trigger).toEqual({ kind: 'http', id: 'msg_v2_0001' });
    expect(outcome).toEqual({
      ...targetOf(REQUEST),
      outcome: 'accepted',
      resolved: RESOLVED,
      versions: VERSIONS,
      update_result: [
        { instance_id: REQUEST.instance_id, workflow_id: 'wf-0001', state: 'ACCEPT', error_message: null },
      ],
      event_ids: [expect.stringMatching(UUID)],
      replayed: false,
    });

    expect(world.eventBridge.calls).toHaveLength(1);
    const [entry] = world.eventBridge.events();
    expect(entry).toEqual({
      Source: 'taurusdb.proxy-upgrader',
      DetailType: 'Proxy Upgrade Accepted',
      EventBusName: EVENT_BUS_NAME,
      Detail: {
        event_id: outcome.event_ids[0],
        request: targetOf(REQUEST),
        resolved: RESOLVED,
        versions: VERSIONS,
        result: {
          instance_id: REQUEST.instance_id,
          workflow_id: 'wf-0001',
          state: 'ACCEPT',
          error_message: null,
        },
        trigger: {
          kind: 'http',
          id: 'msg_v2_0001',
          change_id: 'CHG0031337',
          requested_by: 'alice@example.com',
        },
        occurred_at: expect.stringMatching(ISO),
      },
    });
  });

  it('REST API (payload 1.0) with its capitalised headers reaches the same call', async () => {
    const event = signedHttpEvent(world, 'rest-api-v1.json', undefined, { id: 'msg_v1_0001' });
    expect(Object.keys(event.headers)).toContain('Webhook-Signature');
    const answer = await world.invokeHttp(event);
    expect(answer.statusCode).toBe(200);
    expect(answer.json.outcomes.map((outcome: { outcome: string }) => outcome.outcome)).toEqual(['accepted']);
    expect(world.taurusDb.upgrades).toMatchObject([
      { projectId: REQUEST.project_id, proxyId: REQUEST.proxy_id, language: 'en-us', token: STATIC_TOKEN },
    ]);
    expect(world.eventBridge.events().map((entry) => entry.Detail)).toMatchObject([
      { trigger: { kind: 'http', id: 'msg_v1_0001' } },
    ]);
  });

  it('Function URL with a base64 batch: one call and one outcome per target, in order', async () => {
    world.taurusDb.script(replies.accept({ workflow_id: 'wf-a' }), replies.reject('insufficient subnet ip'));
    const event = signedHttpEvent(world, 'function-url.json', undefined, { id: 'msg_furl_0001' });
    expect(event.isBase64Encoded).toBe(true);
    const answer = await world.invokeHttp(event);
    const batch = JSON.parse(Buffer.from(sample('function-url.json').body, 'base64').toString('utf8'));

    expect(answer.statusCode).toBe(200);
    expect(world.taurusDb.upgrades.map((upgrade) => upgrade.proxyId).sort()).toEqual(
      batch.upgrades.map((upgrade: { proxy_id: string }) => upgrade.proxy_id).sort(),
    );
    // No language in the batch: no X-Language header.
    expect(world.taurusDb.requests.every((request) => request.headers['x-language'] === undefined)).toBe(
      true,
    );
    expect(answer.json.outcomes.map((outcome: { proxy_id: string }) => outcome.proxy_id)).toEqual(
      batch.upgrades.map((upgrade: { proxy_id: string }) => upgrade.proxy_id),
    );
    const detailTypes = world.eventBridge.events().map((entry) => entry.DetailType);
    expect(detailTypes.sort()).toEqual(['Proxy Upgrade Accepted', 'Proxy Upgrade Rejected']);
    expect(world.eventBridge.calls).toHaveLength(1);
  });

  it('Scheduler input: the event is the batch, delivery_id names the delivery, no HTTP answer', async () => {
    const event = sample('scheduler-input.json');
    const result = (await world.invoke(event)) as { trigger: unknown; outcomes: Array<{ outcome: string }> };
    expect(result.trigger).toEqual({ kind: 'schedule', id: event.upgrades[0].delivery_id });
    expect(result.outcomes.map((outcome) => outcome.outcome)).toEqual(['accepted', 'accepted']);
    expect(world.taurusDb.upgrades).toHaveLength(2);
    expect(world.eventBridge.events().map((entry) => entry.Detail)).toMatchObject([
      { trigger: { kind: 'schedule', id: event.upgrades[0].delivery_id, change_id: 'CHG0031338' } },
      { trigger: { kind: 'schedule', id: event.upgrades[1].delivery_id } },
    ]);
  });

  it('Scheduler input without delivery_id uses the Lambda request id', async () => {
    const context = lambdaContext({ awsRequestId: '11111111-2222-4333-8444-555555555555' });
    await world.invoke(targetOf(REQUEST), context);
    expect(world.eventBridge.events().map((entry) => entry.Detail)).toMatchObject([
      { trigger: { kind: 'schedule', id: '11111111-2222-4333-8444-555555555555' } },
    ]);
  });

  it('a scheduled rule envelope (an input transformer): the request in detail, the event id as delivery id', async () => {
    const event = sample('scheduled-rule-input-transformer.json');
    const result = (await world.invoke(event)) as { trigger: unknown };
    expect(result.trigger).toEqual({ kind: 'schedule', id: event.id });
    expect(world.taurusDb.upgrades).toHaveLength(1);
    expect(world.eventBridge.events().map((entry) => entry.Detail)).toMatchObject([
      { trigger: { kind: 'schedule', id: event.id, change_id: 'CHG0031337' } },
    ]);
  });

  it('a pipeline "Proxy Upgrade Requested" event: the batch in detail', async () => {
    const event = sample('pipeline-event.json');
    const result = (await world.invoke(event)) as { trigger: unknown; outcomes: unknown[] };
    expect(result.trigger).toEqual({ kind: 'event', id: event.id });
    expect(result.outcomes).toHaveLength(BATCH.upgrades.length);
    expect(world.taurusDb.upgrades).toHaveLength(BATCH.upgrades.length);
    expect(world.eventBridge.events().map((entry) => (entry.Detail as { trigger: unknown }).trigger)).toEqual(
      [
        { kind: 'event', id: event.id, change_id: 'CHG0031338', requested_by: 'release-pipeline' },
        { kind: 'event', id: event.id, change_id: 'CHG0031338', requested_by: 'release-pipeline' },
      ],
    );
  });

  it.each([
    ['an SQS batch', { Records: [{ body: '{}' }] }],
    [
      'an EventBridge event of another detail-type',
      { ...sample('pipeline-event.json'), 'detail-type': 'Deploy' },
    ],
    ['null', null],
    ['a string', 'upgrade please'],
  ])('refuses %s as an event of no known kind, failing the invocation', async (_name, event) => {
    const failure = await world.invoke(event).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(world.errors.UnknownEventError);
    expect((failure as Error).message).toMatch(/^event of no known kind/);
    expect(world.taurusDb.requests).toHaveLength(0);
    expect(world.eventBridge.calls).toHaveLength(0);
  });
});
