import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { rolloutDetailSchema, TRACKING_DETAIL_SCHEMAS } from '../lib/events/contract.ts';
import { SCHEMA_DIRECTORY } from '../scripts/generate-schemas.ts';
import { type DynaliteStandIn, startDynalite } from '../stand-ins/dynamodb.ts';
import { type EventBridgeStandIn, startEventBridgeStandIn } from '../stand-ins/eventbridge.ts';
import { type SecretsManagerStandIn, startSecretsManagerStandIn } from '../stand-ins/secrets-manager.ts';
import { type StepFunctionsStandIn, startStepFunctionsStandIn } from '../stand-ins/stepfunctions.ts';
import { startTaurusDbStandIn, type TaurusDbStandIn } from '../stand-ins/taurusdb.ts';
import { expectDetailsMatchSchemas } from './support/detail-schemas.ts';
import { schemaProblems } from './support/json-schema-check.ts';
import { lambdaContext } from './support/lambda-context.ts';
import {
  aslValidator,
  definitionFromTemplate,
  type LocalRun,
  runLocally,
} from './support/local-state-machine.ts';
import { captureProcessOutput } from './support/process-output.ts';
import { leakedSecrets } from './support/secret-leaks.ts';
import { packageService } from './support/serverless-package.ts';
import { generateWebhookKey, signWebhook } from './support/webhook-signing.ts';
import { sample } from './support/world.ts';

/**
 * The rollout state machine as `serverless package` writes it, validated and then run on
 * aws-local-stepfunctions with its Task states overridden by the project's real handlers
 * (functions/rollouts.ts, its production wiring) against the loopback stand-ins: TaurusDB with a
 * fleet, dynalite, EventBridge, Secrets Manager, and a Step Functions stand-in whose started
 * executions run on that same interpreter. A small ROLLOUT_TICKS_PER_EXECUTION makes the rollout
 * continue as new, so the generations are exercised too.
 */

const STATE_MACHINE_ARN =
  'arn:aws:states:eu-west-1:123456789012:stateMachine:taurusdb-proxy-upgrader-test-rollouts';
const TOKEN = 'MIIT-rollout-test-token-0123456789';
const INSTANCES = 6;
const PER_INSTANCE = 4;
const AT_TARGET = new Set(['x0-1', 'x3-2', 'x5-0', 'x5-3']);

type Handlers = typeof import('../functions/rollouts.ts');
// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is untyped JSON
let template: any;
let definition: Record<string, unknown>;
let taurusDb: TaurusDbStandIn;
let secrets: SecretsManagerStandIn;
let eventBridge: EventBridgeStandIn;
let dynalite: DynaliteStandIn;
let sfn: StepFunctionsStandIn;
/** The 1,000-proxy fleet: 500 proxies in each of two regions, 25 instances of 20 proxies each. */
const REGIONS = ['eu-west-101', 'ap-southeast-3'] as const;
const fleets = new Map<string, TaurusDbStandIn>();
let handlers: Handlers;
let output: ReturnType<typeof captureProcessOutput> | undefined;
const webhookKey = generateWebhookKey();
const runs: (LocalRun & { name: string })[] = [];
/** How long the Tick state waits here: 0 runs a rollout as fast as it goes; a gate test waits a little. */
let tickMs = 0;
const previousEnv = { ...process.env };

beforeAll(async () => {
  template = (await packageService()).template;
  definition = definitionFromTemplate(template, 'RolloutStateMachine');
  const proxies = Array.from({ length: INSTANCES * PER_INSTANCE }, (_, index) => {
    const instance = Math.floor(index / PER_INSTANCE);
    const proxyId = `x${instance}-${index % PER_INSTANCE}`;
    return {
      projectId: `project${instance % 2}`,
      instanceId: `instance${instance}`,
      proxyId,
      version: AT_TARGET.has(proxyId) ? '2.24.03.000' : '2.23.12.000',
    };
  });
  // The approval test's own instance, which the fleet rollout does not name.
  proxies.push(
    ...[0, 1, 2, 3].map((index) => ({
      projectId: 'project1',
      instanceId: 'instance-gated',
      proxyId: `g${index}`,
      version: '2.23.12.000',
    })),
  );
  [taurusDb, secrets, eventBridge, dynalite] = await Promise.all([
    startTaurusDbStandIn({ acceptedTokens: [TOKEN], proxies, workflows: { durationMs: 0 } }),
    startSecretsManagerStandIn(),
    startEventBridgeStandIn(),
    startDynalite(),
  ]);
  await dynalite.createTable('rollouts');
  for (const [r, region] of REGIONS.entries()) {
    const fleet = Array.from({ length: 500 }, (_, index) => ({
      projectId: `project-${region}-${Math.floor(index / 20) % 2}`,
      instanceId: `big-${r}-${Math.floor(index / 20)}`,
      proxyId: `big-${r}-${index}`,
      version: '2.23.12.000',
    }));
    // Workflows that take a moment, so upgrades overlap and the caps are tested at every instant.
    fleets.set(
      region,
      await startTaurusDbStandIn({ acceptedTokens: [TOKEN], proxies: fleet, workflows: { durationMs: 30 } }),
    );
  }
  secrets.put('test/huawei-credentials', { token: TOKEN });
  secrets.put('test/webhook', { key: webhookKey });
  sfn = await startStepFunctionsStandIn(async (execution) => {
    const run = await runLocally(
      definition,
      execution.input,
      {
        Plan: (input) => handlers.plan(input as never),
        Advance: (input) => handlers.advance(input as never, lambdaContext()),
      },
      { Tick: tickMs },
    );
    runs.push({ name: execution.name, ...run });
    return run.output;
  });
  Object.assign(process.env, {
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'AKIDROLLOUTTEST',
    AWS_SECRET_ACCESS_KEY: 'rollout-test-secret-access-key',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.server.url,
    AWS_ENDPOINT_URL_EVENTBRIDGE: eventBridge.url,
    AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
    AWS_ENDPOINT_URL_SFN: sfn.url,
    TAURUSDB_ENDPOINT: taurusDb.url,
    TAURUSDB_ENDPOINTS: JSON.stringify(
      Object.fromEntries([...fleets].map(([region, fleet]) => [region, fleet.url])),
    ),
    HUAWEI_CREDENTIALS_SECRET_ID: 'test/huawei-credentials',
    WEBHOOK_SECRET_ID: 'test/webhook',
    EVENT_BUS_NAME: 'rollout-test-bus',
    IDEMPOTENCY_TABLE: dynalite.tableName,
    ROLLOUT_TABLE: 'rollouts',
    ROLLOUT_STATE_MACHINE_ARN: STATE_MACHINE_ARN,
    ROLLOUT_TICKS_PER_EXECUTION: '3',
    POWERTOOLS_METRICS_NAMESPACE: 'TaurusDbProxyUpgraderTest',
  });
  output = captureProcessOutput();
  vi.resetModules();
  handlers = await import('../functions/rollouts.ts');
});

afterAll(async () => {
  output?.restore();
  // Every line the handlers wrote over the whole file, the 1,000-proxy run included: no secret in any.
  const lines = output?.lines() ?? [];
  expect(lines.length).toBeGreaterThan(0);
  expect(leakedSecrets(lines.join('\n'), [TOKEN, webhookKey, 'rollout-test-secret-access-key'])).toEqual([]);
  process.env = previousEnv;
  await Promise.all([
    ...[...fleets.values()].map((fleet) => fleet.close()),
    taurusDb?.close(),
    secrets?.close(),
    eventBridge?.close(),
    dynalite?.close(),
    sfn?.close(),
  ]);
});

function signedRollout(body: unknown, id: string) {
  const event = sample('http-api-v2.json');
  event.routeKey = 'POST /rollouts';
  event.rawPath = '/rollouts';
  event.requestContext.routeKey = 'POST /rollouts';
  event.requestContext.http.path = '/rollouts';
  event.body = JSON.stringify(body);
  Object.assign(
    event.headers,
    signWebhook({ key: webhookKey, id, timestamp: Math.floor(Date.now() / 1000), body: event.body }),
  );
  return event;
}

let calls = 0;

/** A signed call of a status or control route (an empty body, signed like any other). */
async function call(method: 'GET' | 'POST', path: string) {
  calls += 1;
  const event = signedRollout('', `msg_control_${calls}`);
  event.body = '';
  Object.assign(
    event.headers,
    signWebhook({
      key: webhookKey,
      id: `msg_control_${calls}`,
      timestamp: Math.floor(Date.now() / 1000),
      body: '',
    }),
  );
  event.routeKey = `${method} ${path}`;
  event.rawPath = path;
  event.requestContext.routeKey = `${method} ${path}`;
  event.requestContext.http.path = path;
  event.requestContext.http.method = method;
  const answer = (await handlers.handler(event, lambdaContext())) as { statusCode: number; body: string };
  return { statusCode: answer.statusCode, json: JSON.parse(answer.body) };
}

async function post(body: unknown, id: string) {
  const answer = (await handlers.handler(signedRollout(body, id), lambdaContext())) as {
    statusCode: number;
    body: string;
  };
  return { statusCode: answer.statusCode, json: JSON.parse(answer.body) };
}

describe('the rollout state machine', () => {
  it('is valid Amazon States Language as packaged, with plain Lambda-ARN tasks of the rollout functions', () => {
    const copy = structuredClone(definition);
    const validation = aslValidator(copy);
    expect(validation.errorsText(), 'asl-validator').toBe('');
    expect(validation.isValid).toBe(true);
    const states = definition.States as Record<string, { Type: string; Resource?: string }>;
    expect(definition.StartAt).toBe('Plan');
    expect(states.Plan?.Resource).toMatch(/:function:taurusdb-proxy-upgrader-test-rolloutPlan$/);
    expect(states.Advance?.Resource).toMatch(/:function:taurusdb-proxy-upgrader-test-rolloutAdvance$/);
    expect(
      Object.values(states)
        .map((state) => state.Type)
        .sort(),
    ).toEqual(['Choice', 'Pass', 'Succeed', 'Succeed', 'Task', 'Task', 'Wait']);
  });

  it('is packaged with its table, its least-privilege role, its route, and the tracker leaving rollouts alone', () => {
    const { Resources } = template;
    expect(Resources.RolloutTable.Properties.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(Resources.RolloutStateMachine.Properties.StateMachineName).toBe(
      'taurusdb-proxy-upgrader-test-rollouts',
    );
    for (const id of [
      'RolloutsLambdaFunction',
      'RolloutPlanLambdaFunction',
      'RolloutAdvanceLambdaFunction',
    ]) {
      expect(Resources[id].Properties.Role, id).toEqual({ 'Fn::GetAtt': ['RolloutRole', 'Arn'] });
    }
    const statements = Resources.RolloutRole.Properties.Policies[0].PolicyDocument.Statement;
    const actions = statements.flatMap((statement: { Action: string[] }) => statement.Action).sort();
    expect(actions).toEqual(
      [
        'dynamodb:DeleteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:UpdateItem',
        'events:PutEvents',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'secretsmanager:GetSecretValue',
        'states:DescribeExecution',
        'states:StartExecution',
        'sqs:SendMessage',
      ].sort(),
    );
    // The resume call reads executions of this machine only.
    const reads = statements.find((statement: { Action: string[] }) =>
      statement.Action.includes('states:DescribeExecution'),
    );
    expect(JSON.stringify(reads.Resource)).toContain(':execution:taurusdb-proxy-upgrader-');
    // A refused or failed intake event ends in the failed-deliveries queue, not discarded by Lambda.
    expect(Resources.RolloutsEventInvokeConfig.Properties).toMatchObject({
      FunctionName: { Ref: 'RolloutsLambdaFunction' },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': ['FailedDeliveriesQueue', 'Arn'] } } },
    });
    const route = Object.values<{ Type: string; Properties: { RouteKey: string; Target: unknown } }>(
      Resources,
    ).find(
      (resource) =>
        resource.Type === 'AWS::ApiGatewayV2::Route' && resource.Properties.RouteKey === 'POST /rollouts',
    );
    expect(JSON.stringify(route?.Properties.Target)).toContain('HttpApiIntegrationRollouts');
    const trackerRule = Object.values<{
      Type: string;
      Properties: { EventPattern?: { 'detail-type'?: string[] } };
    }>(Resources).find((resource) =>
      resource.Properties?.EventPattern?.['detail-type']?.includes('Proxy Upgrade Accepted'),
    );
    expect(trackerRule?.Properties.EventPattern).toMatchObject({
      detail: { trigger: { kind: [{ 'anything-but': 'rollout' }] } },
    });
  });

  it('refuses a bad request with a 400 naming the field, starting nothing', async () => {
    const answer = await post({ targets: [], target_version: 'latest' }, 'msg_rollout_bad');
    expect(answer.statusCode).toBe(400);
    expect(JSON.stringify(answer.json)).toContain('targets');
    expect(sfn.executions).toHaveLength(0);
  });

  it('runs a rollout to its end: one upgrade per proxy that needed it, none twice, each execution far from 25,000 events', async () => {
    const request = {
      rollout_id: 'fleet-1',
      targets: Array.from({ length: INSTANCES }, (_, instance) => ({
        project_id: `project${instance % 2}`,
        instance_id: `instance${instance}`,
        all_proxies: true,
      })),
      target_version: 'latest',
      concurrency: 4,
      waves: [{ size: 1 }, { percent: 25 }, { percent: 100 }],
    };
    const first = await post(request, 'msg_rollout_1');
    expect(first.statusCode).toBe(202);
    expect(first.json).toMatchObject({ rollout_id: 'fleet-1', status: 'planning', replayed: false });
    // The sender's retry of the same delivery: the same rollout, nothing started twice.
    const again = await post(request, 'msg_rollout_1');
    expect(again.statusCode).toBe(200);
    expect(again.json).toMatchObject({ rollout_id: 'fleet-1', replayed: true });
    // Another request under the same rollout id is a conflict.
    expect((await post({ ...request, concurrency: 2 }, 'msg_rollout_2')).statusCode).toBe(409);

    await sfn.settled();
    expect(sfn.executions.map((execution) => [execution.name, execution.status, execution.error])).toEqual(
      sfn.executions.map((_, generation) => [`fleet-1-g${generation}`, 'SUCCEEDED', undefined]),
    );
    expect(sfn.executions.length).toBeGreaterThan(1);

    const upgraded = taurusDb.upgrades.map((upgrade) => upgrade.proxyId);
    expect(new Set(upgraded).size).toBe(upgraded.length);
    expect(upgraded.sort()).toEqual(
      Array.from(
        { length: INSTANCES * PER_INSTANCE },
        (_, index) => `x${Math.floor(index / PER_INSTANCE)}-${index % PER_INSTANCE}`,
      )
        .filter((proxy) => !AT_TARGET.has(proxy))
        .sort(),
    );
    const record = (await call('GET', '/rollouts/fleet-1')).json;
    expect(record.status).toBe('completed');
    expect(record.targets.filter((target: { outcome: string }) => target.outcome === 'skipped')).toHaveLength(
      AT_TARGET.size,
    );
    const history = runs.map((run) => run.historyEvents);
    console.log(
      `rollout fleet-1: ${runs.length} executions, history events per execution ${history.join(', ')}`,
    );
    expect(Math.max(...history)).toBeLessThan(1000);
    // The tick, the one poller of rollout upgrades, publishes each one's end, as the tracker would.
    const completed = eventBridge.events().filter((entry) => entry.DetailType === 'Proxy Upgrade Completed');
    expect(
      completed.map((entry) => (entry.Detail as { request: { proxy_id: string } }).request.proxy_id).sort(),
    ).toEqual([...upgraded].sort());
    // The upgrade events are what the committed schemas say, the tick's end events what the tracker's do.
    await expectDetailsMatchSchemas(
      eventBridge
        .events()
        .filter(
          (entry) =>
            entry.DetailType?.startsWith('Proxy Upgrade') && entry.DetailType !== 'Proxy Upgrade Completed',
        ),
    );
    // The rollout's own events, each what its committed schema says.
    const rolloutSchema = JSON.parse(
      await readFile(join(SCHEMA_DIRECTORY, 'proxy-rollout-event.schema.json'), 'utf8'),
    );
    const lifecycle = eventBridge
      .events()
      .filter(
        (entry) =>
          entry.DetailType?.startsWith('Proxy Rollout') &&
          (entry.Detail as { rollout_id: string }).rollout_id === 'fleet-1',
      );
    expect(lifecycle.map((entry) => entry.DetailType)).toEqual([
      'Proxy Rollout Started',
      'Proxy Rollout Wave Started',
      'Proxy Rollout Wave Completed',
      'Proxy Rollout Wave Started',
      'Proxy Rollout Wave Completed',
      'Proxy Rollout Wave Started',
      'Proxy Rollout Wave Completed',
      'Proxy Rollout Completed',
    ]);
    for (const entry of lifecycle) {
      expect(rolloutDetailSchema.safeParse(entry.Detail).error?.issues ?? []).toEqual([]);
      expect(schemaProblems(rolloutSchema, entry.Detail)).toEqual([]);
    }
    for (const entry of completed) {
      expect(
        TRACKING_DETAIL_SCHEMAS['Proxy Upgrade Completed'].safeParse(entry.Detail).error?.issues ?? [],
      ).toEqual([]);
    }
    // Each upgrade's events name the rollout.
    const accepted = eventBridge.events().filter((entry) => entry.DetailType === 'Proxy Upgrade Accepted');
    expect(accepted).toHaveLength(upgraded.length);
    expect(
      accepted.map((entry) => (entry.Detail as { trigger: { kind: string; rollout_id: string } }).trigger),
    ).toEqual(accepted.map(() => expect.objectContaining({ kind: 'rollout', rollout_id: 'fleet-1' })));
  });

  it('an approval gate holds the next wave until POST /rollouts/{id}/approve; status and control are signed routes', async () => {
    tickMs = 5;
    const request = {
      rollout_id: 'gated',
      targets: [{ project_id: 'project1', instance_id: 'instance-gated', all_proxies: true }],
      target_version: '2.24.03.000',
      gate: 'approval',
      waves: [{ size: 1 }, { percent: 100 }],
    };
    expect((await post(request, 'msg_gated')).statusCode).toBe(202);
    const upgradesOfInstance = () =>
      taurusDb.upgrades.filter((upgrade) => upgrade.instanceId === 'instance-gated');
    let status = await call('GET', '/rollouts/gated');
    for (let poll = 0; poll < 400 && status.json.status !== 'awaiting_approval'; poll += 1) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      status = await call('GET', '/rollouts/gated');
    }
    expect({ ...status.json, targets: undefined }).toMatchObject({
      status: 'awaiting_approval',
      wave: 0,
      counts: { completed: 1, pending: 3 },
    });
    expect(upgradesOfInstance()).toHaveLength(1);

    const approved = await call('POST', '/rollouts/gated/approve');
    expect(approved.statusCode).toBe(200);
    expect(approved.json.flags.approved.wave).toBe(1);
    // A redelivered approve changes nothing.
    expect((await call('POST', '/rollouts/gated/approve')).statusCode).toBe(200);
    await sfn.settled();
    const done = await call('GET', '/rollouts/gated');
    expect(done.json).toMatchObject({ status: 'completed', counts: { completed: 4 } });
    expect(
      done.json.targets.every((target: { workflow_id: string | null }) => target.workflow_id !== null),
    ).toBe(true);
    expect(upgradesOfInstance()).toHaveLength(4);
    expect((await call('POST', '/rollouts/gated/cancel')).statusCode).toBe(409);
    expect((await call('GET', '/rollouts/no-such-rollout')).statusCode).toBe(404);
    tickMs = 0;
  });

  it('a rollout of 1,000 proxies over two regions: one POST per proxy, within concurrency and one per instance at every instant', async () => {
    tickMs = 0;
    const concurrency = 40;
    const projectOf = (region: string, index: number) => `project-${region}-${Math.floor(index / 20) % 2}`;
    const entries = REGIONS.flatMap((region, r) =>
      Array.from({ length: 500 }, (_, index) => ({
        project_id: projectOf(region, index),
        instance_id: `big-${r}-${Math.floor(index / 20)}`,
        proxy_id: `big-${r}-${index}`,
        region,
      })),
    );
    const byProxy = new Map(entries.map((entry) => [entry.proxy_id, entry]));
    const posted: string[] = [];
    const violations: string[] = [];
    for (const fleet of fleets.values()) {
      fleet.onUpgrade((upgrade) => {
        // In flight at the stand-in: POSTed and not yet at the target. The rollout counts a target
        // in flight until its tick sees the end, later still, so this undercounts its own view.
        const running = posted
          .map((proxy) => byProxy.get(proxy) as (typeof entries)[number])
          .filter(
            (earlier) =>
              fleets
                .get(earlier.region)
                ?.versionOf(earlier.project_id, earlier.instance_id, earlier.proxy_id) !== '2.24.03.000',
          );
        if (running.length + 1 > concurrency)
          violations.push(`${running.length + 1} in flight at ${upgrade.proxyId}`);
        if (running.some((earlier) => earlier.instance_id === upgrade.instanceId)) {
          violations.push(`two on ${upgrade.instanceId} at ${upgrade.proxyId}`);
        }
        posted.push(upgrade.proxyId);
        return undefined;
      });
    }
    const before = sfn.executions.length;
    const runsBefore = runs.length;
    const answer = await post(
      {
        rollout_id: 'fleet-1000',
        targets: entries,
        target_version: '2.24.03.000',
        concurrency,
        max_failures: { percent: 5 },
      },
      'msg_fleet_1000',
    );
    expect(answer.statusCode).toBe(202);
    await sfn.settled();
    for (const fleet of fleets.values()) fleet.onUpgrade(undefined);
    const mine = sfn.executions.slice(before);
    expect(mine.filter((execution) => execution.status !== 'SUCCEEDED')).toEqual([]);
    expect(violations).toEqual([]);
    expect(posted).toHaveLength(1000);
    expect(new Set(posted).size).toBe(1000);
    const status = await call('GET', '/rollouts/fleet-1000');
    expect({ ...status.json, targets: undefined }).toMatchObject({
      status: 'completed',
      counts: { completed: 1000 },
    });
    const history = runs.slice(runsBefore).map((run) => run.historyEvents);
    console.log(
      `rollout fleet-1000: ${mine.length} executions, at most ${Math.max(...history)} history events in one (limit 25,000), ${Math.max(...posted.map((_, i) => i)) + 1} POSTs`,
    );
    expect(Math.max(...history)).toBeLessThan(2_500);
  }, 300_000);
});
