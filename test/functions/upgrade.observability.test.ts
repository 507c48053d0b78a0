import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replies } from '../../stand-ins/taurusdb.ts';
import { leakedSecrets } from '../support/secret-leaks.ts';
import { sample, signedHttpEvent, startWorld, type World } from '../support/world.ts';

const REQUEST = JSON.parse(sample('http-api-v2.json').body);
type Line = Record<string, unknown>;

describe('logs and metrics of the handler (password credentials, so IAM tokens are in play)', () => {
  let world: World;

  beforeAll(async () => {
    world = await startWorld({ credentials: 'password' });
  });
  afterAll(() => world.close());

  function jsonLines(): Line[] {
    return world.logLines().filter((line): line is Line => typeof line === 'object' && line !== null);
  }

  it('writes one structured line per target outcome with the ids an operator searches by', async () => {
    world.taurusDb.script(replies.accept({ workflow_id: 'wf-obs-1' }), replies.serverError());
    const before = jsonLines().length;
    await world.invokeHttp(
      signedHttpEvent(
        world,
        'http-api-v2.json',
        { upgrades: [REQUEST, { ...REQUEST, proxy_id: 'proxy-b' }] },
        { id: 'msg_obs_1' },
      ),
    );
    const outcomes = jsonLines()
      .slice(before)
      .filter((line) => line.message === 'target outcome');
    expect(outcomes).toHaveLength(2);
    const accepted = outcomes.find((line) => line.outcome === 'accepted');
    const failed = outcomes.find((line) => line.outcome === 'failed');
    expect(accepted).toMatchObject({
      level: 'INFO',
      service: 'taurusdb-proxy-upgrader',
      function_request_id: expect.any(String),
      function_name: expect.any(String),
      project_id: REQUEST.project_id,
      instance_id: REQUEST.instance_id,
      proxy_id: REQUEST.proxy_id,
      change_id: 'CHG0031337',
      requested_by: 'alice@example.com',
      trigger_kind: 'http',
      trigger_id: 'msg_obs_1',
      upstream_status: 200,
      duration_ms: expect.any(Number),
      workflow_ids: ['wf-obs-1'],
    });
    expect(failed).toMatchObject({
      level: 'ERROR',
      proxy_id: 'proxy-b',
      upstream_status: 500,
      error_code: 'DBS.05000000',
    });
  });

  it('puts the delivery id, change id and trigger kind on every line of an invocation, and on no later one', async () => {
    world.taurusDb.script(replies.serverError());
    const before = jsonLines().length;
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json', REQUEST, { id: 'msg_obs_keys' }));
    const lines = jsonLines()
      .slice(before)
      .filter((line) => 'level' in line);
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line, String(line.message)).toMatchObject({
        delivery_id: 'msg_obs_keys',
        change_id: 'CHG0031337',
        trigger_kind: 'http',
      });
    }
    // The keys are reset after the invocation: the next one carries its own.
    world.taurusDb.script(replies.accept({ workflow_id: 'wf-obs-keys' }));
    const next = jsonLines().length;
    await world.invoke(sample('scheduled-rule.json'));
    const later = jsonLines()
      .slice(next)
      .filter((line) => 'level' in line);
    expect(later.length).toBeGreaterThan(0);
    for (const line of later) expect(line.delivery_id, String(line.message)).not.toBe('msg_obs_keys');
  });

  it('names the delivery on the refusal line too, which is written after the keys are reset', async () => {
    const before = jsonLines().length;
    const answer = await world.invokeHttp(
      signedHttpEvent(
        world,
        'http-api-v2.json',
        { ...REQUEST, project_id: 'not valid' },
        { id: 'msg_obs_refused' },
      ),
    );
    expect(answer.statusCode).toBe(400);
    const refused = jsonLines()
      .slice(before)
      .filter((line) => line.message === 'request refused');
    expect(refused).toEqual([
      expect.objectContaining({ level: 'WARN', trigger_kind: 'http', delivery_id: 'msg_obs_refused' }),
    ]);
  });

  it('says nothing about empty metrics when a request is refused before any outcome', async () => {
    const before = world.logLines().length;
    const answer = await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { key: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
    );
    expect(answer.statusCode).toBe(401);
    const text = world
      .logLines()
      .slice(before)
      .map((line) => (typeof line === 'string' ? line : JSON.stringify(line)))
      .join('\n');
    expect(text).not.toContain('No application metrics');
  });

  it('emits EMF metrics for each outcome and the upstream latency', async () => {
    const before = jsonLines().length;
    world.taurusDb.script(replies.reject('insufficient subnet ip'));
    await world.invoke(sample('scheduled-rule.json'));
    const [emf] = jsonLines()
      .slice(before)
      .filter((line) => '_aws' in line);
    expect(emf).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'TaurusDbProxyUpgraderTest' }] },
      service: 'taurusdb-proxy-upgrader',
      Rejected: 1,
      UpstreamLatency: expect.any(Number),
    });
  });

  it('never logs a password, token, webhook key or the X-Auth-Token header, even when things fail', async () => {
    world.taurusDb.script(replies.unauthorized(), replies.unauthorized());
    await world.invokeHttp(signedHttpEvent(world, 'http-api-v2.json'));
    await world.invokeHttp(
      signedHttpEvent(world, 'http-api-v2.json', REQUEST, { key: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
    );
    world.taurusDb.script(replies.badGatewayHtml());
    await world.invoke(sample('pipeline-event.json'));
    expect(world.iam.issuedTokens.length).toBeGreaterThan(0);
    const text = world
      .logLines()
      .map((line) => (typeof line === 'string' ? line : JSON.stringify(line)))
      .join('\n');
    expect(
      leakedSecrets(text, [...world.secrets, ...world.iam.issuedTokens.map((issued) => issued.token)]),
    ).toEqual([]);
    expect(text.toLowerCase()).not.toContain('x-auth-token');
  });
});
