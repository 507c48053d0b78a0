import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { PublishError } from '../../lib/errors.ts';
import {
  createEventPublisher,
  type EventPublisherOptions,
  EventsNotPublishedError,
  type PublishableEvent,
} from '../../lib/event-publisher.ts';
import { type EventBridgeStandIn, startEventBridgeStandIn } from '../support/eventbridge-stand-in.ts';
import { startLoopbackServer } from '../support/loopback-server.ts';

const busName = 'proxy-upgrades';
const source = 'taurusdb.proxy-upgrader';

function upgradeEvents(count: number, detailType = 'Proxy Upgrade Accepted'): PublishableEvent[] {
  return Array.from({ length: count }, (_, seq) => ({
    detailType,
    detail: { event_id: `evt-${seq}`, seq, result: { state: 'ACCEPT' } },
  }));
}

function seqs(entries: { Detail: unknown }[]): number[] {
  return entries.map((entry) => (entry.Detail as { seq: number }).seq);
}

async function publishError(promise: Promise<unknown>): Promise<EventsNotPublishedError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PublishError);
  expect(error).toBeInstanceOf(EventsNotPublishedError);
  return error as EventsNotPublishedError;
}

describe('createEventPublisher', () => {
  let eventBridge: EventBridgeStandIn;
  let sleeps: number[];

  beforeAll(async () => {
    eventBridge = await startEventBridgeStandIn();
  });
  afterAll(() => eventBridge.close());
  beforeEach(() => {
    eventBridge.reset();
    sleeps = [];
  });

  function publisher(overrides: Partial<EventPublisherOptions> = {}) {
    return createEventPublisher({
      busName,
      source,
      client: eventBridge.client(),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      random: () => 0.5,
      ...overrides,
    });
  }

  it('sends one PutEvents call over AWS JSON 1.1 with Source, DetailType, Detail JSON and bus name', async () => {
    const events: PublishableEvent[] = [
      { detailType: 'Proxy Upgrade Accepted', detail: { event_id: 'a1', result: { state: 'ACCEPT' } } },
      { detailType: 'Proxy Upgrade Rejected', detail: { event_id: 'r1', result: { state: 'REJECT' } } },
      { detailType: 'Proxy Upgrade Failed', detail: { event_id: 'f1', error: { status: 500 } } },
    ];

    const report = await publisher().publish(events);

    expect(report).toEqual({ calls: 1, published: 3 });
    expect(eventBridge.calls).toEqual([
      [
        {
          Source: source,
          DetailType: 'Proxy Upgrade Accepted',
          Detail: { event_id: 'a1', result: { state: 'ACCEPT' } },
          EventBusName: busName,
        },
        {
          Source: source,
          DetailType: 'Proxy Upgrade Rejected',
          Detail: { event_id: 'r1', result: { state: 'REJECT' } },
          EventBusName: busName,
        },
        {
          Source: source,
          DetailType: 'Proxy Upgrade Failed',
          Detail: { event_id: 'f1', error: { status: 500 } },
          EventBusName: busName,
        },
      ],
    ]);
    const [request] = eventBridge.server.requests;
    expect(request?.headers['x-amz-target']).toBe('AWSEvents.PutEvents');
    expect(request?.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(request?.headers.authorization).toMatch(
      /Credential=AKIDTEST\/\d{8}\/eu-west-1\/events\/aws4_request/,
    );
  });

  it('publishes nothing and calls nothing for an empty list', async () => {
    expect(await publisher().publish([])).toEqual({ calls: 0, published: 0 });
    expect(eventBridge.calls).toHaveLength(0);
  });

  it('sends 25 events as calls of 10, 10 and 5, in list order', async () => {
    const report = await publisher().publish(upgradeEvents(25));

    expect(report).toEqual({ calls: 3, published: 25 });
    expect(eventBridge.calls.map((call) => call.length)).toEqual([10, 10, 5]);
    expect(seqs(eventBridge.events())).toEqual(Array.from({ length: 25 }, (_, seq) => seq));
    expect(sleeps).toEqual([]);
  });

  it('splits a call further when ten entries would pass the 256 KB request limit', async () => {
    const padding = 'x'.repeat(60 * 1024);
    const events = upgradeEvents(10).map((event) => ({ ...event, detail: { ...event.detail, padding } }));

    const report = await publisher().publish(events);

    // Four 60 KB entries fit in 256 KB, five do not; the stand-in refuses an oversized request as AWS does.
    expect(eventBridge.calls.map((call) => call.length)).toEqual([4, 4, 2]);
    expect(report).toEqual({ calls: 3, published: 10 });
    expect(seqs(eventBridge.events())).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('refuses an entry over 256 KB without sending it, and still publishes the others', async () => {
    const events = upgradeEvents(3);
    events[1] = { detailType: 'Proxy Upgrade Accepted', detail: { seq: 1, padding: 'x'.repeat(256 * 1024) } };

    const error = await publishError(publisher().publish(events));

    expect(error.message).toBe(
      '1 of 3 events not published to event bus proxy-upgrades: Proxy Upgrade Accepted (EntryTooLarge) x1',
    );
    expect(error.failed.map(({ index, errorCode }) => ({ index, errorCode }))).toEqual([
      { index: 1, errorCode: 'EntryTooLarge' },
    ]);
    expect(seqs(eventBridge.calls.flat())).toEqual([0, 2]);
    expect(seqs(eventBridge.events())).toEqual([0, 2]);
  });

  it('resends only the entries throttled in a partial failure, after a jittered backoff', async () => {
    eventBridge.script({
      failIndexes: [1, 3],
      errorCode: 'ThrottlingException',
      errorMessage: 'Rate exceeded',
    });

    const report = await publisher().publish(upgradeEvents(25));

    expect(eventBridge.calls.map((call) => call.length)).toEqual([10, 10, 5, 2]);
    expect(seqs(eventBridge.calls[3] ?? [])).toEqual([1, 3]);
    expect(seqs(eventBridge.events()).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, seq) => seq),
    );
    expect(eventBridge.events()).toHaveLength(25);
    expect(report).toEqual({ calls: 4, published: 25 });
    // random() = 0.5 of the first backoff window (200 ms).
    expect(sleeps).toEqual([100]);
  });

  it('retries a whole call answered 400 ThrottlingException, then 500s, with growing backoff', async () => {
    eventBridge.script({ failCall: { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' } });
    eventBridge.script({ failCall: { status: 500, type: 'InternalException' } });

    const report = await publisher().publish(upgradeEvents(3));

    expect(eventBridge.calls.map((call) => call.length)).toEqual([3, 3, 3]);
    expect(seqs(eventBridge.events())).toEqual([0, 1, 2]);
    expect(report).toEqual({ calls: 3, published: 3 });
    expect(sleeps).toEqual([100, 200]);
  });

  it('gives up after the bounded rounds on an entry that keeps failing with a retryable code', async () => {
    eventBridge.script({ failDetailType: 'Proxy Upgrade Rejected', errorCode: 'InternalFailure' });
    const events = upgradeEvents(12);
    events[10] = {
      detailType: 'Proxy Upgrade Rejected',
      detail: { seq: 10, secret_marker: 'detail-content-7f3a' },
    };

    const error = await publishError(publisher().publish(events));

    expect(error.message).toBe(
      '1 of 12 events not published to event bus proxy-upgrades: Proxy Upgrade Rejected (InternalFailure) x1',
    );
    expect(error.message).not.toContain('detail-content-7f3a');
    expect(error.failed).toEqual([
      {
        index: 10,
        event: events[10],
        errorCode: 'InternalFailure',
        errorMessage: 'stand-in failed the entry with InternalFailure',
      },
    ]);
    // Round one: 10 + 2 entries; rounds two to four: the one failing entry alone.
    expect(eventBridge.calls.map((call) => call.length)).toEqual([10, 2, 1, 1, 1]);
    expect(eventBridge.events()).toHaveLength(11);
    expect(sleeps).toEqual([100, 200, 400]);
  });

  it('honours maxAttempts and caps the backoff at maxDelayMs', async () => {
    eventBridge.script({ failCall: { status: 503, type: 'ServiceUnavailableException' }, times: 10 });

    const error = await publishError(
      publisher({ maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 500, random: () => 0.999 }).publish(
        upgradeEvents(2),
      ),
    );

    expect(eventBridge.calls).toHaveLength(6);
    expect(sleeps).toEqual([99, 199, 399, 499, 499]);
    expect(error.message).toBe(
      '2 of 2 events not published to event bus proxy-upgrades: Proxy Upgrade Accepted (ServiceUnavailableException) x2',
    );
    expect((error.cause as Error).name).toBe('ServiceUnavailableException');
  });

  it('does not retry an entry refused with a non-retryable code', async () => {
    eventBridge.script({ failDetailType: 'Proxy Upgrade Failed', errorCode: 'AccessDeniedException' });
    const events = [...upgradeEvents(2), { detailType: 'Proxy Upgrade Failed', detail: { seq: 2 } }];

    const error = await publishError(publisher().publish(events));

    expect(eventBridge.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(seqs(eventBridge.events())).toEqual([0, 1]);
    expect(error.message).toBe(
      '1 of 3 events not published to event bus proxy-upgrades: Proxy Upgrade Failed (AccessDeniedException) x1',
    );
  });

  it('does not retry a whole call refused with a non-retryable error', async () => {
    eventBridge.script({ failCall: { status: 400, type: 'AccessDeniedException', message: 'not allowed' } });

    const error = await publishError(publisher().publish(upgradeEvents(2)));

    expect(eventBridge.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(error.failed.map(({ errorCode }) => errorCode)).toEqual([
      'AccessDeniedException',
      'AccessDeniedException',
    ]);
  });

  it('retries when EventBridge cannot be reached, then reports the network error code', async () => {
    const gone = await startLoopbackServer(() => undefined);
    await gone.close();
    const stranded = clientAt(gone.url);

    const error = await publishError(
      publisher({ client: stranded, maxAttempts: 3 }).publish(upgradeEvents(1)),
    );

    expect(sleeps).toEqual([100, 200]);
    expect(error.failed.map(({ errorCode }) => errorCode)).toEqual(['ECONNREFUSED']);
  });

  describe('without a client option', () => {
    afterEach(() => {
      vi.unstubAllEnvs();
    });

    it('uses the SDK standard settings: AWS_ENDPOINT_URL_EVENTBRIDGE, AWS_REGION and env credentials', async () => {
      vi.stubEnv('AWS_ENDPOINT_URL_EVENTBRIDGE', eventBridge.url);
      vi.stubEnv('AWS_ENDPOINT_URL', undefined);
      vi.stubEnv('AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', undefined);
      vi.stubEnv('AWS_REGION', 'eu-central-1');
      vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDFROMENV');
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'env-secret-access-key');
      vi.stubEnv('AWS_SESSION_TOKEN', undefined);
      vi.stubEnv('AWS_PROFILE', undefined);

      const report = await createEventPublisher({ busName, source }).publish(upgradeEvents(2));

      expect(report).toEqual({ calls: 1, published: 2 });
      expect(seqs(eventBridge.events())).toEqual([0, 1]);
      const [request] = eventBridge.server.requests.slice(-1);
      expect(request?.headers.authorization).toMatch(/Credential=AKIDFROMENV\/\d{8}\/eu-central-1\/events\//);
    });
  });
});

/** A real SDK client aimed at a port nothing listens on any more. */
function clientAt(url: string): EventBridgeClient {
  return new EventBridgeClient({
    endpoint: url,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' },
    maxAttempts: 1,
  });
}
