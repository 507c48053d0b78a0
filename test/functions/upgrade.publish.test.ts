import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replies } from '../../stand-ins/taurusdb.ts';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);

function items(count: number) {
  return Array.from({ length: count }, (_, index) => ({
    instance_id: REQUEST.instance_id,
    workflow_id: `wf-${String(index).padStart(4, '0')}`,
    state: index % 5 === 4 ? 'REJECT' : 'ACCEPT',
    error_message: index % 5 === 4 ? 'Upgrade failed due to insufficient subnet ip' : null,
  }));
}

describe('publishing every result item to EventBridge', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(() => world.close());
  beforeEach(() => {
    world.eventBridge.reset();
  });

  it('turns a 25-item update_result into 25 events in three PutEvents calls', async () => {
    world.taurusDb.script(replies.items(...items(25)));
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));
    expect(answer.statusCode).toBe(200);
    expect(world.eventBridge.calls.map((call) => call.length)).toEqual([10, 10, 5]);
    const events = world.eventBridge.events();
    expect(
      events.map((entry) => (entry.Detail as { result: { workflow_id: string } }).result.workflow_id),
    ).toEqual(items(25).map((item) => item.workflow_id));
    expect(events.filter((entry) => entry.DetailType === 'Proxy Upgrade Rejected')).toHaveLength(5);
    expect(new Set(events.map((entry) => (entry.Detail as { event_id: string }).event_id)).size).toBe(25);
    expect(answer.json.outcomes[0].outcome).toBe('rejected');
  });

  it('resends entries that failed with a retryable code until all are in', async () => {
    world.taurusDb.script(replies.items(...items(12)));
    world.eventBridge.script({ failIndexes: [1, 7], errorCode: 'ThrottlingException' });
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));
    expect(answer.statusCode).toBe(200);
    expect(world.eventBridge.calls.map((call) => call.length)).toEqual([10, 2, 2]);
    expect(world.eventBridge.events()).toHaveLength(12);
  });

  it('fails an HTTP delivery with 500 when entries cannot be published, so the sender retries', async () => {
    world.eventBridge.script({ failDetailType: 'Proxy Upgrade Accepted', errorCode: 'InternalFailure' });
    const answer = await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));
    expect(answer.statusCode).toBe(500);
    expect(answer.json.message).toMatch(/could not be published to EventBridge; retry the same delivery/);
    expect(world.eventBridge.events()).toHaveLength(0);
  });

  it('fails the invocation of a pipeline event when entries cannot be published', async () => {
    world.eventBridge.script({
      failDetailType: 'Proxy Upgrade Accepted',
      errorCode: 'AccessDeniedException',
    });
    const failure = await world.invoke(sample('pipeline-event.json')).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(world.errors.PublishError);
    expect((failure as Error).message).toMatch(/2 of 2 events not published/);
  });
});
