// biome-ignore-all lint/suspicious/noExplicitAny: a CloudFormation template is untyped JSON
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIdempotentRunner } from '../lib/aws/idempotency.ts';
import { loadConfig, loadTrackingConfig } from '../lib/config.ts';
import { DETAIL_SCHEMAS, TRACKING_DETAIL_SCHEMAS } from '../lib/events/contract.ts';
import { DETAIL_TYPES, ROLLOUT_DETAIL_TYPES, TRACKING_DETAIL_TYPES } from '../lib/events/detail-types.ts';
import { JWT_UPGRADE_ROUTE, UPGRADE_ROUTE } from '../lib/http/routes.ts';
import { recogniseTrigger } from '../lib/http/triggers.ts';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../lib/observability.ts';
import { parseUpgradePayload } from '../lib/upgrade/request.ts';
import { MAX_STAGE_LENGTH, stageProblem } from '../scripts/deploy.ts';
import { type DynaliteStandIn, startDynalite } from '../stand-ins/dynamodb.ts';
import { lambdaContext } from './support/lambda-context.ts';
import { emittedMetricNames } from './support/metric-names.ts';
import { type PackagedService, packageService, projectRoot } from './support/serverless-package.ts';

const runFile = promisify(execFile);

// The account and region the template is evaluated for, as CloudFormation would at deploy time.
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Partition': 'aws',
  'AWS::Region': REGION,
  'AWS::AccountId': ACCOUNT,
};

type Template = any;
type Statement = { Effect: string; Action: string[]; Resource: string[]; Principal?: any; Condition?: any };

/**
 * Evaluates the intrinsic functions the template uses, conditions included, so the tests look at the
 * values a deploy would produce. A Ref to a resource becomes "<Id>", a GetAtt "<Id.Attribute>".
 */
function evaluate(template: Template, value: any): any {
  if (Array.isArray(value)) return value.map((item) => evaluate(template, item));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value);
  const [name, argument] = entries[0] ?? [];
  const intrinsic = entries.length === 1 && name !== undefined && (name === 'Ref' || name.startsWith('Fn::'));
  if (!intrinsic) return Object.fromEntries(entries.map(([key, item]) => [key, evaluate(template, item)]));
  const arg = argument as any;
  switch (name) {
    case 'Ref':
      if (arg === 'AWS::NoValue') return undefined;
      return PSEUDO_PARAMETERS[arg] ?? `<${arg}>`;
    case 'Fn::GetAtt':
      return `<${Array.isArray(arg) ? arg.join('.') : arg}>`;
    case 'Fn::Join':
      return evaluate(template, arg[1]).join(arg[0]);
    case 'Fn::Split':
      return String(evaluate(template, arg[1])).split(arg[0]);
    case 'Fn::Select':
      return evaluate(template, arg[1])[Number(arg[0])];
    case 'Fn::Equals':
      return evaluate(template, arg[0]) === evaluate(template, arg[1]);
    case 'Fn::Not':
      return !evaluate(template, arg[0]);
    case 'Fn::And':
      return arg.every((condition: any) => evaluate(template, condition) === true);
    case 'Fn::If':
      return evaluate(template, conditionHolds(template, arg[0]) ? arg[1] : arg[2]);
    case 'Fn::Sub': {
      const [text, variables] = Array.isArray(arg) ? arg : [arg, {}];
      const values = evaluate(template, variables) as Record<string, string>;
      return (text as string).replace(/\$\{([^}]+)\}/g, (_, reference: string) => {
        return values[reference] ?? PSEUDO_PARAMETERS[reference] ?? `<${reference}>`;
      });
    }
    default:
      throw new Error(`the test's evaluator does not know ${name}`);
  }
}

function conditionHolds(template: Template, name: string): boolean {
  const definition = template.Conditions?.[name];
  if (definition === undefined) throw new Error(`condition ${name} is not defined`);
  return evaluate(template, definition) === true;
}

function resourcesOfType(template: Template, type: string): [string, any][] {
  return Object.entries<any>(template.Resources).filter(([, resource]) => resource.Type === type);
}

/** The upgrade function's table (RolloutTable, issue 17, is the rollouts functions' own). */
function idempotencyTableOf(template: Template): [string, any] {
  const tables = resourcesOfType(template, 'AWS::DynamoDB::Table').filter(([id]) => id !== 'RolloutTable');
  expect(
    tables.map(([id]) => id),
    'AWS::DynamoDB::Table',
  ).toHaveLength(1);
  return tables[0] as [string, any];
}

function onlyResourceOfType(template: Template, type: string): [string, any] {
  const found = resourcesOfType(template, type);
  expect(
    found.map(([id]) => id),
    type,
  ).toHaveLength(1);
  return found[0] as [string, any];
}

const asList = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

function statementsOf(template: Template, policyDocument: any): Statement[] {
  return asList<any>(evaluate(template, policyDocument).Statement).map((statement) => ({
    ...statement,
    Action: asList(statement.Action),
    Resource: asList(statement.Resource),
  }));
}

function roleStatements(template: Template, roleId: string): Statement[] {
  const role = template.Resources[roleId];
  expect(role?.Type).toBe('AWS::IAM::Role');
  return asList<any>(role.Properties.Policies).flatMap((policy) =>
    statementsOf(template, policy.PolicyDocument),
  );
}

function trustedServices(template: Template, roleId: string): string[] {
  return statementsOf(template, template.Resources[roleId].Properties.AssumeRolePolicyDocument).flatMap(
    (statement) => asList(statement.Principal?.Service),
  );
}

/** IAM's ARN wildcards: `*` any run of characters, `?` exactly one. */
function arnPatternMatches(pattern: string, arn: string): boolean {
  const source = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`).test(arn);
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** EventBridge pattern matching, for the rule forms this template uses (exact values, anything-but). */
function patternMatches(pattern: Record<string, unknown>, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, rule]) => {
    const value = event[key];
    if (isRecord(rule)) return isRecord(value) && patternMatches(rule, value);
    return asList(rule).some((alternative) => {
      if (isRecord(alternative) && 'anything-but' in alternative) {
        return value !== undefined && !asList(alternative['anything-but']).includes(value);
      }
      if (isRecord(alternative))
        throw new Error(`the test's matcher does not know ${JSON.stringify(alternative)}`);
      return alternative === value;
    });
  });
}

/** The Lambda function whose handler is `functions/<name>.handler`. */
function functionWithHandler(template: Template, name: string): [string, any] {
  const found = resourcesOfType(template, 'AWS::Lambda::Function').filter(
    ([, candidate]) => candidate.Properties.Handler === `functions/${name}.handler`,
  );
  expect(found, `the ${name} function`).toHaveLength(1);
  return found[0] as [string, any];
}

/** What one packaged template says about the upgrade function and everything wired to it. */
function describeDeployment(template: Template) {
  const [functionId, fn] = functionWithHandler(template, 'upgrade');
  const environment = evaluate(template, fn.Properties.Environment.Variables) as Record<string, string>;
  const roleId = /^<(.+)\.Arn>$/.exec(evaluate(template, fn.Properties.Role))?.[1] ?? '';
  const [ruleId, rule] =
    resourcesOfType(template, 'AWS::Events::Rule').find(([, candidate]) =>
      asList(candidate.Properties.EventPattern?.['detail-type']).includes('Proxy Upgrade Requested'),
    ) ?? [];
  const ruleArn = `arn:aws:events:${REGION}:${ACCOUNT}:rule/${rule?.Properties.EventBusName}/${rule?.Properties.Name}`;
  return {
    functionId,
    fn,
    environment,
    config: loadConfig(environment),
    roleId,
    statements: roleStatements(template, roleId),
    ruleId: ruleId ?? '',
    rule,
    ruleArn,
    functionArn: `<${functionId}.Arn>`,
  };
}

// What `Ref` gives for an SQS queue: its URL. The evaluator writes "<Id>"; the configuration check
// needs a URL in its place.
const SAMPLE_QUEUE_URL = `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/taurusdb-proxy-upgrader-test-tracking`;

/** What one packaged template says about the tracking function (functions/track.ts). */
function describeTracking(template: Template) {
  const [functionId, fn] = functionWithHandler(template, 'track');
  const functionArn = `<${functionId}.Arn>`;
  const environment = evaluate(template, fn.Properties.Environment.Variables) as Record<string, string>;
  const queueRef = environment.TRACKING_QUEUE_URL ?? '';
  const roleId = /^<(.+)\.Arn>$/.exec(evaluate(template, fn.Properties.Role))?.[1] ?? '';
  const [, rule] =
    resourcesOfType(template, 'AWS::Events::Rule').find(([, candidate]) =>
      asList(candidate.Properties.EventPattern?.['detail-type']).includes(DETAIL_TYPES.accepted),
    ) ?? [];
  return {
    functionId,
    fn,
    functionArn,
    environment,
    config: loadTrackingConfig({ ...environment, TRACKING_QUEUE_URL: SAMPLE_QUEUE_URL }),
    queueId: /^<(.+)>$/.exec(queueRef)?.[1] ?? '',
    roleId,
    statements: roleStatements(template, roleId),
    rule,
    ruleArn: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${rule?.Properties.EventBusName}/${rule?.Properties.Name}`,
  };
}

// provider.tracing: X-Ray's write actions take no resource ARN, so they are the one "*" a role may hold.
const X_RAY_GRANTS = ['xray:PutTelemetryRecords *', 'xray:PutTraceSegments *'];
const withoutXRay = (statements: Statement[]) =>
  statements.filter((statement) => !statement.Action.every((action) => action.startsWith('xray:')));

/** Every "action resource" pair a list of statements allows. */
function grantsOf(statements: Statement[]): string[] {
  return statements
    .flatMap((statement) =>
      statement.Action.flatMap((action) => statement.Resource.map((resource) => `${action} ${resource}`)),
    )
    .sort();
}

function statementsAllowing(statements: Statement[], action: string): Statement[] {
  return statements.filter((statement) => statement.Effect === 'Allow' && statement.Action.includes(action));
}

function eventBridgePermissionSourceArns(template: Template, functionArn: string): string[] {
  return resourcesOfType(template, 'AWS::Lambda::Permission')
    .map(([, permission]) => evaluate(template, permission.Properties))
    .filter(
      (properties) =>
        properties.Principal === 'events.amazonaws.com' && properties.FunctionName === functionArn,
    )
    .map((properties) => properties.SourceArn);
}

function deadLetterSenders(template: Template, queueArn: string): Statement[] {
  return resourcesOfType(template, 'AWS::SQS::QueuePolicy').flatMap(([, policy]) =>
    statementsOf(template, policy.Properties.PolicyDocument).filter(
      (statement) => statement.Action.includes('sqs:SendMessage') && statement.Resource.includes(queueArn),
    ),
  );
}

function sourceArnAllowed(statement: Statement, sourceArn: string): boolean {
  const { ArnEquals, ArnLike } = statement.Condition ?? {};
  const patterns = [
    ...asList(ArnEquals?.['aws:SourceArn']),
    ...asList(ArnLike?.['aws:SourceArn']),
  ] as string[];
  return patterns.some((pattern) => arnPatternMatches(pattern, sourceArn));
}

/** The evaluated properties of the one EventInvokeConfig of a function. */
function invokeConfigOf(template: Template, functionId: string): any {
  const configs = resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig')
    .map(([, config]) => evaluate(template, config.Properties))
    .filter((properties) => properties.FunctionName === `<${functionId}>`);
  expect(configs, `EventInvokeConfig of ${functionId}`).toHaveLength(1);
  return configs[0];
}

const queueIdOf = (template: Template, arnMarker: string): string => {
  const id = /^<(.+)\.Arn>$/.exec(arnMarker)?.[1] ?? '';
  expect(template.Resources[id]?.Type, `${arnMarker} names an SQS queue`).toBe('AWS::SQS::Queue');
  return id;
};

describe('serverless package with the default parameters', () => {
  let service: PackagedService;
  let template: Template;
  let deployment: ReturnType<typeof describeDeployment>;

  beforeAll(async () => {
    service = await packageService();
    template = service.template;
    deployment = describeDeployment(template);
  }, 180_000);

  it('routes POST /upgrades of the HTTP API to the function, inside the 30 s integration limit', () => {
    const [, route] =
      resourcesOfType(template, 'AWS::ApiGatewayV2::Route').find(
        ([, candidate]) => candidate.Properties.RouteKey === 'POST /upgrades',
      ) ?? [];
    expect(route, 'route POST /upgrades').toBeDefined();
    const integrationId =
      /^integrations\/<(.+)>$/.exec(evaluate(template, route.Properties.Target))?.[1] ?? '';
    const integration = template.Resources[integrationId];
    expect(integration?.Type).toBe('AWS::ApiGatewayV2::Integration');
    expect(evaluate(template, integration.Properties.IntegrationUri)).toBe(deployment.functionArn);
    expect(integration.Properties.PayloadFormatVersion).toBe('2.0');

    // The gateway answers 503 at 30 s whatever the function is doing, so the function must stop first;
    // and one TaurusDB attempt (connect + headers + body timeouts) must fit in the function's time.
    const timeoutMs = deployment.fn.Properties.Timeout * 1000;
    expect(timeoutMs).toBeLessThan(Math.min(integration.Properties.TimeoutInMillis, 30_000));
    const { connectMs, headersMs, bodyMs } = deployment.config.timeouts;
    expect(connectMs + headersMs + bodyMs).toBeLessThan(timeoutMs);

    const invokers = resourcesOfType(template, 'AWS::Lambda::Permission')
      .map(([, permission]) => evaluate(template, permission.Properties))
      .filter((properties) => properties.Principal === 'apigateway.amazonaws.com');
    // The upgrade function, and the rollouts function for its own POST /rollouts (issue 17).
    expect(invokers.map((properties) => properties.FunctionName).sort()).toEqual(
      [deployment.functionArn, '<RolloutsLambdaFunction.Arn>'].sort(),
    );
  });

  it('declares the example Scheduler schedule disabled, aimed at the function, with retries and a dead-letter queue', () => {
    const [, schedule] = onlyResourceOfType(template, 'AWS::Scheduler::Schedule');
    const properties = evaluate(template, schedule.Properties);
    expect(properties.State).toBe('DISABLED');
    expect(properties.Target.Arn).toBe(deployment.functionArn);
    expect(properties.Target.RetryPolicy).toEqual({
      MaximumRetryAttempts: expect.any(Number),
      MaximumEventAgeInSeconds: expect.any(Number),
    });
    const queueId = queueIdOf(template, properties.Target.DeadLetterConfig.Arn);

    // Scheduler runs under its own role: invoke this function and write dead letters, nothing else.
    const roleId = /^<(.+)\.Arn>$/.exec(properties.Target.RoleArn)?.[1] ?? '';
    expect(roleId).not.toBe(deployment.roleId);
    expect(trustedServices(template, roleId)).toEqual(['scheduler.amazonaws.com']);
    const [trust] = statementsOf(template, template.Resources[roleId].Properties.AssumeRolePolicyDocument);
    expect(trust?.Condition).toEqual({ StringEquals: { 'aws:SourceAccount': ACCOUNT } });
    const grants = roleStatements(template, roleId).flatMap((statement) =>
      statement.Action.flatMap((action) => statement.Resource.map((resource) => `${action} ${resource}`)),
    );
    expect(grants.sort()).toEqual(
      [
        `lambda:InvokeFunction ${deployment.functionArn}`,
        `lambda:InvokeFunction ${deployment.functionArn}:*`,
        `sqs:SendMessage <${queueId}.Arn>`,
      ].sort(),
    );
  });

  it('gives the schedule an input the function accepts, with a fresh delivery id per scheduled run', () => {
    const [, schedule] = onlyResourceOfType(template, 'AWS::Scheduler::Schedule');
    const input: string = schedule.Properties.Target.Input;
    const items = JSON.parse(input).upgrades as Record<string, unknown>[];
    expect(items.length).toBeGreaterThan(0);
    for (const item of items) expect(item.delivery_id).toBe('<aws.scheduler.execution-id>');

    // What the function receives once Scheduler has filled in its context attribute.
    const event = JSON.parse(input.replaceAll('<aws.scheduler.execution-id>', 'd32c5kddcf5bb8c3'));
    const delivery = recogniseTrigger(event);
    expect(delivery.kind).toBe('schedule');
    const requests = parseUpgradePayload(delivery.payload);
    expect(requests.map((request) => request.delivery_id)).toEqual(items.map(() => 'd32c5kddcf5bb8c3'));
  });

  it('subscribes the function to "Proxy Upgrade Requested" on the bus it creates, with retries and a dead-letter queue', () => {
    const [busId, bus] = onlyResourceOfType(template, 'AWS::Events::EventBus');
    const { rule, ruleArn } = deployment;
    expect(rule, 'rule for Proxy Upgrade Requested').toBeDefined();
    expect(rule.Properties.EventBusName).toBe(bus.Properties.Name);
    // Created before the rule and deleted after it, or the stack could not be removed.
    expect(asList(rule.DependsOn)).toContain(busId);
    expect(rule.Properties.State).toBe('ENABLED');

    const [target, ...others] = evaluate(template, rule.Properties.Targets);
    expect(others).toEqual([]);
    expect(target.Arn).toBe(deployment.functionArn);
    expect(target.RetryPolicy).toEqual({
      MaximumRetryAttempts: expect.any(Number),
      MaximumEventAgeInSeconds: expect.any(Number),
    });
    queueIdOf(template, target.DeadLetterConfig.Arn);
    expect(eventBridgePermissionSourceArns(template, deployment.functionArn)).toEqual([ruleArn]);
  });

  it('matches pipeline requests, but not the results the function publishes nor requests under its own source', () => {
    const pattern = deployment.rule.Properties.EventPattern;
    const request = JSON.parse(readFileSync(join(projectRoot, 'events/pipeline-event.json'), 'utf8'));
    expect(patternMatches(pattern, request)).toBe(true);
    const ownSource = deployment.config.eventSource;
    const result = { ...request, source: ownSource, 'detail-type': 'Proxy Upgrade Accepted' };
    expect(patternMatches(pattern, result)).toBe(false);
    expect(patternMatches(pattern, { ...request, source: ownSource })).toBe(false);
  });

  it('lets EventBridge write dead letters to the queue for this rule only', () => {
    const target = evaluate(template, deployment.rule.Properties.Targets[0]);
    const senders = deadLetterSenders(template, target.DeadLetterConfig.Arn);
    expect(senders.map((statement) => statement.Principal)).toEqual([{ Service: 'events.amazonaws.com' }]);
    const [sender] = senders as [Statement];
    expect(sourceArnAllowed(sender, deployment.ruleArn)).toBe(true);
    const otherRule = deployment.ruleArn.replace(/[^/]+$/, 'someone-elses-rule');
    expect(sourceArnAllowed(sender, otherRule)).toBe(false);
    expect(sourceArnAllowed(sender, deployment.ruleArn.replace(ACCOUNT, '210987654321'))).toBe(false);
  });

  it('keeps failed asynchronous runs: at most two retries, all inside the duplicate suppression window, then the queue', () => {
    const properties = invokeConfigOf(template, deployment.functionId);
    expect(properties.FunctionName).toBe(`<${deployment.functionId}>`);
    expect(properties.MaximumRetryAttempts).toBeGreaterThanOrEqual(1);
    expect(properties.MaximumRetryAttempts).toBeLessThanOrEqual(2);
    // A retry after the window has passed would find no stored result and call TaurusDB again.
    expect(properties.MaximumEventAgeInSeconds).toBeLessThanOrEqual(
      Math.min(
        deployment.config.idempotencyWindowSeconds.event,
        deployment.config.idempotencyWindowSeconds.schedule,
      ),
    );
    const queueArn = properties.DestinationConfig.OnFailure.Destination;
    queueIdOf(template, queueArn);
    // Lambda sends onFailure records with the function's role.
    expect(
      statementsAllowing(deployment.statements, 'sqs:SendMessage').flatMap((statement) => statement.Resource),
    ).toEqual([queueArn]);
  });

  it('lets only Lambda assume the function role, which names every resource it grants', () => {
    expect(trustedServices(template, deployment.roleId)).toEqual(['lambda.amazonaws.com']);
    for (const statement of withoutXRay(deployment.statements)) {
      expect(statement.Resource.length, JSON.stringify(statement)).toBeGreaterThan(0);
      expect(statement.Resource, JSON.stringify(statement)).not.toContain('*');
      expect(statement.Action.filter((action) => action.endsWith('*'))).toEqual([]);
    }
  });

  it('allows reading exactly the two configured secrets', () => {
    const { environment, statements } = deployment;
    const readers = statementsAllowing(statements, 'secretsmanager:GetSecretValue');
    const resources = readers.flatMap((statement) => statement.Resource);
    const secretArn = (name: string, suffix: string) =>
      `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-${suffix}`;
    for (const name of [
      environment.HUAWEI_CREDENTIALS_SECRET_ID,
      environment.WEBHOOK_SECRET_ID,
    ] as string[]) {
      // Secrets Manager appends six random characters to a secret's name in its ARN.
      expect(resources.some((pattern) => arnPatternMatches(pattern, secretArn(name, 'Ab3dEf')))).toBe(true);
      expect(
        resources.some((pattern) => arnPatternMatches(pattern, secretArn(`${name}-other`, 'Ab3dEf'))),
      ).toBe(false);
    }
    expect(resources).toHaveLength(2);
    expect(
      statements.filter((statement) => statement.Action.some((a) => a.startsWith('secretsmanager:'))),
    ).toEqual(readers);
  });

  it('allows publishing on the bus the function is configured for, under its own source only', () => {
    const [, bus] = onlyResourceOfType(template, 'AWS::Events::EventBus');
    expect(deployment.environment.EVENT_BUS_NAME).toBe(bus.Properties.Name);
    const publishers = statementsAllowing(deployment.statements, 'events:PutEvents');
    expect(publishers).toHaveLength(1);
    const [publisher] = publishers as [Statement];
    expect(publisher.Resource).toEqual([
      `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${bus.Properties.Name}`,
    ]);
    expect(publisher.Condition).toEqual({ StringEquals: { 'events:source': deployment.config.eventSource } });
  });

  it('allows the idempotency item calls on the idempotency table only', () => {
    const tableArn = `<${idempotencyTableOf(template)[0]}.Arn>`;
    const dynamo = deployment.statements.filter((statement) =>
      statement.Action.some((action) => action.startsWith('dynamodb:')),
    );
    expect(dynamo.map((statement) => statement.Resource)).toEqual([[tableArn]]);
    expect(dynamo[0]?.Action.sort()).toEqual(
      ['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'].sort(),
    );
  });

  describe('the idempotency table', () => {
    let dynamo: DynaliteStandIn;

    beforeAll(async () => {
      dynamo = await startDynalite();
    });
    afterAll(async () => {
      await dynamo?.close();
    });

    it('is the one the function is configured with, billed per request, expiring records by TTL', () => {
      const [tableId, table] = idempotencyTableOf(template);
      expect(deployment.environment.IDEMPOTENCY_TABLE).toBe(`<${tableId}>`);
      expect(table.Properties.BillingMode).toBe('PAY_PER_REQUEST');
      expect(table.Properties.TimeToLiveSpecification.Enabled).toBe(true);
    });

    it('has the layout Powertools idempotency writes: its key, and its expiry under the TTL attribute', async () => {
      const [, table] = idempotencyTableOf(template);
      const { AttributeDefinitions, KeySchema, BillingMode, TimeToLiveSpecification } = table.Properties;
      const client = dynamo.client();
      await client.send(
        new CreateTableCommand({ TableName: 'as-deployed', AttributeDefinitions, KeySchema, BillingMode }),
      );
      const runner = createIdempotentRunner({
        tableName: 'as-deployed',
        client,
        windowSeconds: { http: 3600 },
      });
      runner.registerLambdaContext(lambdaContext());
      const key = {
        kind: 'http' as const,
        deliveryId: 'delivery-1',
        project_id: 'p1',
        instance_id: 'i1',
        proxy_id: 'x1',
        source_version: '2.23.12.000',
        target_version: '2.24.03.000',
      };
      const before = Math.floor(Date.now() / 1000);
      await runner.run(key, async () => ({ state: 'ACCEPT' }));

      const [record, ...others] = await dynamo.scan('as-deployed');
      expect(others).toEqual([]);
      const [hashKey] = KeySchema as { AttributeName: string; KeyType: string }[];
      expect(hashKey?.KeyType).toBe('HASH');
      expect(record?.[hashKey?.AttributeName ?? '']).toEqual(expect.any(String));
      // DynamoDB's TTL deletes by an epoch-seconds number in the attribute the table names.
      const expiry = record?.[TimeToLiveSpecification.AttributeName];
      expect(expiry).toBeGreaterThanOrEqual(before + 3600);
      expect(expiry).toBeLessThan(before + 2 * 3600);
    });
  });

  // Issue 14: deferred attempts of busy instances.
  describe('deferred attempts', () => {
    it('schedule in a group of this stack, invoking this function under UpgradeSchedulerRole, dead letters kept', () => {
      const [, group] = onlyResourceOfType(template, 'AWS::Scheduler::ScheduleGroup');
      const deferral = deployment.config.deferral;
      expect(deferral?.groupName).toBe(group.Properties.Name);
      expect(deferral?.targetArn).toBe(
        `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${deployment.fn.Properties.FunctionName}`,
      );
      const role = template.Resources.UpgradeSchedulerRole;
      expect(deferral?.roleArn).toBe(`arn:aws:iam::${ACCOUNT}:role/${role.Properties.RoleName}`);
      expect(trustedServices(template, 'UpgradeSchedulerRole')).toEqual(['scheduler.amazonaws.com']);
      queueIdOf(template, String(deferral?.deadLetterArn));
      expect(deployment.config.busyRetry).toStrictEqual({
        retryForMs: 7_200_000,
        firstDelayMs: 300_000,
        maxDelayMs: 1_800_000,
      });
    });

    it('let the function create schedules in that group only, and pass that role only, to Scheduler only', () => {
      const group = String(deployment.config.deferral?.groupName);
      const creators = statementsAllowing(deployment.statements, 'scheduler:CreateSchedule');
      expect(creators.map((statement) => [statement.Action, statement.Resource])).toEqual([
        [['scheduler:CreateSchedule'], [`arn:aws:scheduler:${REGION}:${ACCOUNT}:schedule/${group}/*`]],
      ]);
      const passers = statementsAllowing(deployment.statements, 'iam:PassRole');
      expect(passers).toHaveLength(1);
      expect(passers[0]?.Resource).toEqual([deployment.config.deferral?.roleArn]);
      expect(passers[0]?.Condition).toEqual({
        StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
      });
      expect(
        deployment.statements.filter((statement) =>
          statement.Action.some((action) => action.startsWith('scheduler:') || action.startsWith('iam:')),
        ),
      ).toEqual([...creators, ...passers]);
    });
  });

  it("keeps the function's logs for a set retention", () => {
    const groups = resourcesOfType(template, 'AWS::Logs::LogGroup').map(([, group]) => group.Properties);
    const group = groups.find(
      (properties) => properties.LogGroupName === `/aws/lambda/${deployment.fn.Properties.FunctionName}`,
    );
    expect(group?.RetentionInDays).toEqual(expect.any(Number));
  });

  it('wires the environment the function needs, which passes its own configuration check', () => {
    const { config } = deployment;
    expect(config.credentialsSecretId).not.toBe('');
    expect(config.webhookSecretId).toEqual(expect.any(String));
    expect(config.idempotencyTable).toBe(deployment.environment.IDEMPOTENCY_TABLE);
    expect(config.eventBusName).toBe(deployment.environment.EVENT_BUS_NAME);
  });

  it('ships a small bundle', async () => {
    // Everything the function needs is bundled and minified; a jump in size means something (a second
    // copy of the AWS SDK, a dev dependency) got pulled in.
    const { size } = await stat(join(service.directory, 'upgrade.zip'));
    expect(size).toBeLessThan(1024 * 1024);
  });

  describe('the tracking function', () => {
    let tracking: ReturnType<typeof describeTracking>;

    beforeAll(() => {
      tracking = describeTracking(template);
    });

    it('runs on the same runtime, with its configuration complete and the tracking queue as TRACKING_QUEUE_URL', () => {
      const { fn, config, queueId } = tracking;
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(template.Resources[queueId]?.Type).toBe('AWS::SQS::Queue');
      expect(config.eventBusName).toBe(deployment.config.eventBusName);
      expect(config.eventSource).toBe(deployment.config.eventSource);
      expect(config.credentialsSecretId).toBe(deployment.config.credentialsSecretId);
      // One TaurusDB attempt must fit in the function's time, with the 3 s kept back to publish.
      const { connectMs, headersMs, bodyMs } = config.timeouts;
      expect(connectMs + headersMs + bodyMs + 3_000).toBeLessThanOrEqual(fn.Properties.Timeout * 1000);
    });

    it('is started by "Proxy Upgrade Accepted" and "Proxy Upgrade Unconfirmed" events the upgrade function publishes, and by nothing else on the bus', () => {
      const { rule } = tracking;
      expect(rule, 'rule for Proxy Upgrade Accepted').toBeDefined();
      expect(rule.Properties.EventBusName).toBe(deployment.rule.Properties.EventBusName);
      expect(rule.Properties.State).toBe('ENABLED');
      const pattern = rule.Properties.EventPattern;
      for (const name of ['tracking-accepted-event.json', 'tracking-unconfirmed-event.json']) {
        const delivered = JSON.parse(readFileSync(join(projectRoot, 'events', name), 'utf8'));
        // As the upgrade function publishes it: its configured source, its DetailType.
        const published = { ...delivered, source: deployment.config.eventSource };
        expect(patternMatches(pattern, published), name).toBe(true);
        expect(patternMatches(pattern, { ...published, source: 'com.example.somebody-else' }), name).toBe(
          false,
        );
      }
      const accepted = JSON.parse(
        readFileSync(join(projectRoot, 'events/tracking-accepted-event.json'), 'utf8'),
      );
      const published = { ...accepted, source: deployment.config.eventSource };
      // Not the other results, nor the tracker's own events (no loop).
      for (const detailType of [
        DETAIL_TYPES.rejected,
        DETAIL_TYPES.failed,
        DETAIL_TYPES.skipped,
        DETAIL_TYPES.planned,
        ...Object.values(TRACKING_DETAIL_TYPES),
      ]) {
        expect(patternMatches(pattern, { ...published, 'detail-type': detailType }), detailType).toBe(false);
      }
    });

    it("takes the rule's events with retries and a dead-letter queue that accepts this rule", () => {
      const [target, ...others] = evaluate(template, tracking.rule.Properties.Targets);
      expect(others).toEqual([]);
      expect(target.Arn).toBe(tracking.functionArn);
      expect(target.RetryPolicy).toEqual({
        MaximumRetryAttempts: expect.any(Number),
        MaximumEventAgeInSeconds: expect.any(Number),
      });
      queueIdOf(template, target.DeadLetterConfig.Arn);
      const [sender, ...more] = deadLetterSenders(template, target.DeadLetterConfig.Arn);
      expect(more).toEqual([]);
      expect(sourceArnAllowed(sender as Statement, tracking.ruleArn)).toBe(true);
      expect(eventBridgePermissionSourceArns(template, tracking.functionArn)).toEqual([tracking.ruleArn]);
    });

    it('gets the re-checks from the tracking queue in batches, reporting failed records one by one', () => {
      const mappings = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').map(([, mapping]) =>
        evaluate(template, mapping.Properties),
      );
      expect(mappings).toHaveLength(1);
      const [mapping] = mappings;
      expect(mapping.EventSourceArn).toBe(`<${tracking.queueId}.Arn>`);
      expect(mapping.FunctionName).toBe(tracking.functionArn);
      expect(mapping.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(mapping.BatchSize).toBeGreaterThanOrEqual(1);
      expect(mapping.BatchSize).toBeLessThanOrEqual(10);
      expect(mapping.Enabled ?? true).toBe(true);
    });

    it('redrives a message that keeps failing to the dead-letter queue, which outlives it', () => {
      const queue = evaluate(template, template.Resources[tracking.queueId].Properties);
      const deadLetterId = queueIdOf(template, queue.RedrivePolicy.deadLetterTargetArn);
      expect(deadLetterId).not.toBe(tracking.queueId);
      expect(queue.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(2);
      // Lambda's advice: a visibility timeout of six times the function timeout.
      expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * tracking.fn.Properties.Timeout);
      // A dead letter's age counts from its first enqueue: the dead-letter queue must keep it longer.
      const deadLetters = template.Resources[deadLetterId].Properties;
      expect(deadLetters.MessageRetentionPeriod).toBeGreaterThan(queue.MessageRetentionPeriod ?? 345_600);
      // Re-checks carry their own delay; a queue-wide one would add to every check.
      expect(queue.DelaySeconds ?? 0).toBe(0);
    });

    it('keeps a first check that failed: at most two retries, then the queue its role may write to', () => {
      const properties = invokeConfigOf(template, tracking.functionId);
      expect(properties.MaximumRetryAttempts).toBeLessThanOrEqual(2);
      const queueArn = properties.DestinationConfig.OnFailure.Destination;
      queueIdOf(template, queueArn);
      expect(grantsOf(tracking.statements)).toContain(`sqs:SendMessage ${queueArn}`);
    });

    it('has a role of its own, trusted by Lambda alone, granting exactly what the tracker calls', () => {
      const { roleId, statements, queueId } = tracking;
      expect(roleId).not.toBe(deployment.roleId);
      expect(trustedServices(template, roleId)).toEqual(['lambda.amazonaws.com']);
      for (const statement of withoutXRay(statements)) {
        expect(statement.Effect).toBe('Allow');
        expect(statement.Resource, JSON.stringify(statement)).not.toContain('*');
        expect(statement.Action.filter((action) => action.endsWith('*'))).toEqual([]);
      }
      const [, bus] = onlyResourceOfType(template, 'AWS::Events::EventBus');
      const failedQueueArn = invokeConfigOf(template, tracking.functionId).DestinationConfig.OnFailure
        .Destination;
      const logGroup = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${tracking.fn.Properties.FunctionName}:*`;
      const credentials = statementsAllowing(statements, 'secretsmanager:GetSecretValue').flatMap(
        (statement) => statement.Resource,
      );
      expect(grantsOf(statements)).toEqual(
        [
          `events:PutEvents arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${bus.Properties.Name}`,
          `logs:CreateLogStream ${logGroup}`,
          `logs:PutLogEvents ${logGroup}`,
          `secretsmanager:GetSecretValue ${credentials[0]}`,
          `sqs:DeleteMessage <${queueId}.Arn>`,
          `sqs:GetQueueAttributes <${queueId}.Arn>`,
          `sqs:ReceiveMessage <${queueId}.Arn>`,
          `sqs:SendMessage <${queueId}.Arn>`,
          `sqs:SendMessage ${failedQueueArn}`,
          ...X_RAY_GRANTS,
        ].sort(),
      );
      // The credentials secret only: the tracker never reads the webhook key.
      const secretArn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-Ab3dEf`;
      expect(credentials).toHaveLength(1);
      expect(
        arnPatternMatches(credentials[0] as string, secretArn(tracking.config.credentialsSecretId)),
      ).toBe(true);
      expect(
        arnPatternMatches(credentials[0] as string, secretArn(deployment.config.webhookSecretId as string)),
      ).toBe(false);
      const [publisher] = statementsAllowing(statements, 'events:PutEvents');
      expect(publisher?.Condition).toEqual({
        StringEquals: { 'events:source': tracking.config.eventSource },
      });
    });

    it('leaves the upgrade function without any permission on the tracking queue', () => {
      const queueArn = `<${tracking.queueId}.Arn>`;
      expect(deployment.statements.filter((statement) => statement.Resource.includes(queueArn))).toEqual([]);
    });

    it('ships a small bundle: an ESM entry and its own chunks that a fresh Node process loads, configured as deployed', async () => {
      const { size } = await stat(join(service.directory, 'track.zip'));
      expect(size).toBeLessThan(1024 * 1024);
      const entries = await service.artifact('track');
      // The entry first, then its code-split chunks (scripts/esbuild-plugins.ts), none of the upgrade function's.
      expect(entries[0]?.name).toBe('functions/track.mjs');
      for (const entry of entries.slice(1))
        expect(entry.name).toMatch(/^functions\/track-chunks\/[\w-]+\.mjs$/);
      const directory = join(service.directory, 'unpacked-track');
      for (const entry of entries) {
        await mkdir(dirname(join(directory, entry.name)), { recursive: true });
        await writeFile(join(directory, entry.name), entry.read());
      }
      const file = join(directory, 'functions/track.mjs');
      const { stdout } = await runFile(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(file)}); console.log(typeof m.handler);`,
        ],
        {
          env: {
            PATH: process.env.PATH,
            ...tracking.environment,
            TRACKING_QUEUE_URL: SAMPLE_QUEUE_URL,
            IDEMPOTENCY_TABLE: '',
            AWS_REGION: REGION,
          },
        },
      );
      expect(stdout.trim()).toBe('function');
    });
  });
});

describe('serverless package for an existing bus and a secret given by ARN', () => {
  const EXISTING_BUS_ARN = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/shared-upgrades`;
  const CREDENTIALS_SECRET_ARN = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:huawei/credentials-Xy12Zw`;
  let template: Template;
  let deployment: ReturnType<typeof describeDeployment>;

  beforeAll(async () => {
    const service = await packageService('test', [
      '--param',
      `eventBus=${EXISTING_BUS_ARN}`,
      '--param',
      `credentialsSecret=${CREDENTIALS_SECRET_ARN}`,
    ]);
    template = service.template;
    deployment = describeDeployment(template);
  }, 180_000);

  it('creates no bus and subscribes to the given one', () => {
    expect(resourcesOfType(template, 'AWS::Events::EventBus')).toEqual([]);
    expect(deployment.rule.Properties.EventBusName).toBe('shared-upgrades');
    expect(eventBridgePermissionSourceArns(template, deployment.functionArn)).toEqual([deployment.ruleArn]);
    const target = evaluate(template, deployment.rule.Properties.Targets[0]);
    const [sender] = deadLetterSenders(template, target.DeadLetterConfig.Arn) as [Statement];
    expect(sourceArnAllowed(sender, deployment.ruleArn)).toBe(true);
  });

  it('publishes to the given bus and is allowed that bus only', () => {
    expect(deployment.config.eventBusName).toBe(EXISTING_BUS_ARN);
    const publishers = statementsAllowing(deployment.statements, 'events:PutEvents');
    expect(publishers.map((statement) => statement.Resource)).toEqual([[EXISTING_BUS_ARN]]);
  });

  it('tracks upgrades on the given bus: its rule there, its role allowed to publish there only', () => {
    const tracking = describeTracking(template);
    expect(tracking.rule.Properties.EventBusName).toBe('shared-upgrades');
    expect(tracking.config.eventBusName).toBe(EXISTING_BUS_ARN);
    expect(eventBridgePermissionSourceArns(template, tracking.functionArn)).toEqual([tracking.ruleArn]);
    const target = evaluate(template, tracking.rule.Properties.Targets[0]);
    const [sender] = deadLetterSenders(template, target.DeadLetterConfig.Arn) as [Statement];
    expect(sourceArnAllowed(sender, tracking.ruleArn)).toBe(true);
    expect(
      statementsAllowing(tracking.statements, 'events:PutEvents').map((statement) => statement.Resource),
    ).toEqual([[EXISTING_BUS_ARN]]);
    expect(
      statementsAllowing(tracking.statements, 'secretsmanager:GetSecretValue').flatMap(
        (statement) => statement.Resource,
      ),
    ).toEqual([CREDENTIALS_SECRET_ARN]);
  });

  it("counts the rules' lost dead letters under the given bus's name (taken from its ARN)", () => {
    expect(lostDeliveryMetrics(template).metrics).toEqual(
      lostDeliveryExpectations(template, 'shared-upgrades'),
    );
  });

  it('grants the secret given by ARN as exactly that ARN, the one given by name by its name', () => {
    const resources = statementsAllowing(deployment.statements, 'secretsmanager:GetSecretValue').flatMap(
      (statement) => statement.Resource,
    );
    expect(deployment.config.credentialsSecretId).toBe(CREDENTIALS_SECRET_ARN);
    expect(resources).toEqual([
      CREDENTIALS_SECRET_ARN,
      `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${deployment.config.webhookSecretId}-??????`,
    ]);
  });
});

// The JWT route for callers that cannot sign (issue 15, README "Triggers").
describe('the JWT route POST /upgrades/oauth', () => {
  const ISSUER = 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example1';

  /** The routes and authorizers a deploy would create: resources whose Condition holds. */
  function deployed(template: Template, type: string): [string, any][] {
    return resourcesOfType(template, type).filter(
      ([, resource]) => resource.Condition === undefined || conditionHolds(template, resource.Condition),
    );
  }
  const routeKeyOf = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
  // The rollouts function's routes (issue 17) are checked in test/state-machine.test.ts.
  const upgradeRoutes = (routes: [string, any][]) =>
    routes.filter(([, route]) => !/ \/rollouts(\/|$)/.test(route.Properties.RouteKey));

  it('is not deployed without an issuer and an audience: only the signed route, no authorizer', async () => {
    const { template } = await packageService('test');
    const routes = upgradeRoutes(deployed(template, 'AWS::ApiGatewayV2::Route')).map(
      ([, route]) => route.Properties,
    );
    expect(routes.map((route) => route.RouteKey)).toEqual([routeKeyOf(UPGRADE_ROUTE)]);
    expect(routes[0].AuthorizationType).toBeUndefined();
    expect(deployed(template, 'AWS::ApiGatewayV2::Authorizer')).toEqual([]);
  }, 180_000);

  it("with both set: the route the function serves as its JWT route, behind API Gateway's JWT authorizer", async () => {
    const { template } = await packageService('test', [
      '--param',
      `jwtIssuerUrl=${ISSUER}`,
      '--param',
      'jwtAudience=taurusdb-proxy-upgrader,change-management',
      '--param',
      'jwtScopes=taurusdb-proxy-upgrader/upgrade',
    ]);
    const routes = Object.fromEntries(
      upgradeRoutes(deployed(template, 'AWS::ApiGatewayV2::Route')).map(([, route]) => [
        route.Properties.RouteKey,
        route.Properties,
      ]),
    );
    expect(Object.keys(routes).sort()).toEqual(
      [routeKeyOf(UPGRADE_ROUTE), routeKeyOf(JWT_UPGRADE_ROUTE)].sort(),
    );
    expect(JWT_UPGRADE_ROUTE.auth).toBe('jwt');
    const jwtRoute = routes[routeKeyOf(JWT_UPGRADE_ROUTE)];
    // The same integration, so the same function, as the signed route; the signed route stays open.
    expect(evaluate(template, jwtRoute.Target)).toBe(
      evaluate(template, routes[routeKeyOf(UPGRADE_ROUTE)].Target),
    );
    expect(routes[routeKeyOf(UPGRADE_ROUTE)].AuthorizationType).toBeUndefined();

    expect(jwtRoute.AuthorizationType).toBe('JWT');
    expect(evaluate(template, jwtRoute.AuthorizationScopes)).toEqual(['taurusdb-proxy-upgrader/upgrade']);
    const authorizerId = /^<(.+)>$/.exec(evaluate(template, jwtRoute.AuthorizerId))?.[1] ?? '';
    const [[id, authorizer]] = deployed(template, 'AWS::ApiGatewayV2::Authorizer') as [[string, any]];
    expect(id).toBe(authorizerId);
    expect(evaluate(template, authorizer.Properties)).toMatchObject({
      AuthorizerType: 'JWT',
      IdentitySource: ['$request.header.Authorization'],
      JwtConfiguration: { Issuer: ISSUER, Audience: ['taurusdb-proxy-upgrader', 'change-management'] },
    });
  }, 180_000);
});

// ---- Operability (issue 16): alarms, topic, dashboard, tracing, access logs, retention, the
// default-bus dead letters, the stage-name limit, the schema registry.

/** A template evaluated in another region: `Ref AWS::Region` and `${AWS::Region}` replaced. */
function inRegion(template: Template, region: string): Template {
  return JSON.parse(
    JSON.stringify(template)
      .replaceAll('{"Ref":"AWS::Region"}', JSON.stringify(region))
      // Fn::Sub's reference to the region (written \u0024 so it does not read as a template literal).
      .replaceAll('\u0024{AWS::Region}', region),
  );
}

interface AlarmView {
  id: string;
  namespace: string;
  metric: string;
  dimensions: Record<string, string>;
  threshold: number;
  comparison: string;
  actions: string[];
  okActions: string[];
}

function alarmsOf(template: Template): AlarmView[] {
  return resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([id, alarm]) => {
    const properties = evaluate(template, alarm.Properties);
    return {
      id,
      namespace: properties.Namespace,
      metric: properties.MetricName,
      dimensions: Object.fromEntries(
        asList<any>(properties.Dimensions).map((dimension) => [dimension.Name, dimension.Value]),
      ),
      threshold: properties.Threshold,
      comparison: properties.ComparisonOperator,
      actions: asList(properties.AlarmActions),
      okActions: asList(properties.OKActions),
    };
  });
}

function alarmOn(template: Template, namespace: string, metric: string, dimensions: Record<string, string>) {
  const found = alarmsOf(template).filter(
    (alarm) =>
      alarm.namespace === namespace &&
      alarm.metric === metric &&
      JSON.stringify(alarm.dimensions) === JSON.stringify(dimensions),
  );
  expect(found, `alarm on ${namespace} ${metric} ${JSON.stringify(dimensions)}`).toHaveLength(1);
  return found[0] as AlarmView;
}

/** Every queue the template sends undelivered or unprocessed things to. */
function deadLetterQueueArns(template: Template): string[] {
  const arns = new Set<string>();
  for (const [, rule] of resourcesOfType(template, 'AWS::Events::Rule')) {
    for (const target of evaluate(template, rule.Properties.Targets)) arns.add(target.DeadLetterConfig?.Arn);
  }
  for (const [, schedule] of resourcesOfType(template, 'AWS::Scheduler::Schedule')) {
    arns.add(evaluate(template, schedule.Properties).Target.DeadLetterConfig?.Arn);
  }
  for (const [, config] of resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig')) {
    arns.add(evaluate(template, config.Properties).DestinationConfig?.OnFailure?.Destination);
  }
  for (const [, queue] of resourcesOfType(template, 'AWS::SQS::Queue')) {
    const redrive = evaluate(template, queue.Properties).RedrivePolicy;
    if (redrive) arns.add(redrive.deadLetterTargetArn);
  }
  return [...arns];
}

/** The metrics the lost-deliveries alarm adds up, as "Namespace MetricName Dim=Value,...", and whether all are summed. */
function lostDeliveryMetrics(template: Template): { metrics: string[]; summed: boolean } {
  const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm')
    .map(([, alarm]) => evaluate(template, alarm.Properties))
    .filter((properties) => Array.isArray(properties.Metrics));
  expect(alarms).toHaveLength(1);
  const queries = alarms[0].Metrics as any[];
  const inputs = queries.filter((query) => query.MetricStat);
  const [output, ...others] = queries.filter((query) => query.ReturnData !== false);
  expect(others).toEqual([]);
  const describeMetric = ({ MetricStat: { Metric: metric } }: any) =>
    `${metric.Namespace} ${metric.MetricName} ${asList<any>(metric.Dimensions)
      .map((dimension) => `${dimension.Name}=${dimension.Value}`)
      .join(',')}`;
  const summed = inputs.every((query) => new RegExp(`\\b${query.Id}\\b`).test(output.Expression));
  return { metrics: inputs.map(describeMetric).sort(), summed };
}

function lostDeliveryExpectations(template: Template, busName: string | undefined): string[] {
  const rules = resourcesOfType(template, 'AWS::Events::Rule').map(([, rule]) => rule.Properties.Name);
  // Every function with an onFailure destination: upgrade, track and the rollouts intake.
  const functions = ['upgrade', 'track', 'rollouts'].map((name) => functionWithHandler(template, name)[0]);
  // The example schedule runs in the default group, the deferred attempts in the stack's own.
  const groups = resourcesOfType(template, 'AWS::Scheduler::ScheduleGroup').map(
    ([, group]) => group.Properties.Name,
  );
  expect(groups).toHaveLength(1);
  return [
    ...rules.map(
      (rule) =>
        `AWS/Events InvocationsFailedToBeSentToDlq ${busName === undefined ? '' : `EventBusName=${busName},`}RuleName=${rule}`,
    ),
    'AWS/Scheduler InvocationsFailedToBeSentToDeadLetterCount ScheduleGroup=default',
    ...groups.map(
      (group) => `AWS/Scheduler InvocationsFailedToBeSentToDeadLetterCount ScheduleGroup=${group}`,
    ),
    ...functions.map((id) => `AWS/Lambda DestinationDeliveryFailures FunctionName=<${id}>`),
  ].sort();
}

describe('what on-call gets from the packaged template (default parameters)', () => {
  let template: Template;
  let topicArn: string;

  beforeAll(async () => {
    template = (await packageService()).template;
    const [topicId, topic] = onlyResourceOfType(template, 'AWS::SNS::Topic');
    expect(conditionHolds(template, topic.Condition)).toBe(true);
    topicArn = `<${topicId}>`;
  }, 180_000);

  it('alarms on the depth of the one queue every dead letter and failed run goes to', () => {
    const queues = deadLetterQueueArns(template);
    // Lambda onFailure of both functions, both rules, the schedule, the tracking queue's redrive.
    expect(queues).toHaveLength(1);
    const queueId = queueIdOf(template, queues[0] as string);
    const alarm = alarmOn(template, 'AWS/SQS', 'ApproximateNumberOfMessagesVisible', {
      QueueName: `<${queueId}.QueueName>`,
    });
    expect([alarm.threshold, alarm.comparison]).toEqual([0, 'GreaterThanThreshold']);
  });

  it('alarms on every delivery that not even the queue got: rule and schedule dead letters, onFailure records', () => {
    const [, bus] = onlyResourceOfType(template, 'AWS::Events::EventBus');
    const { metrics, summed } = lostDeliveryMetrics(template);
    expect(metrics).toEqual(lostDeliveryExpectations(template, bus.Properties.Name));
    expect(summed).toBe(true);
  });

  it('alarms on errors and throttles of both functions', () => {
    for (const name of ['upgrade', 'track']) {
      const [functionId] = functionWithHandler(template, name);
      for (const metric of ['Errors', 'Throttles']) {
        const alarm = alarmOn(template, 'AWS/Lambda', metric, { FunctionName: `<${functionId}>` });
        expect([alarm.threshold, alarm.comparison], `${name} ${metric}`).toEqual([0, 'GreaterThanThreshold']);
      }
    }
  });

  it('alarms when a rollout stops being driven: its execution failed or timed out, or its intake failed', () => {
    const [machineId] = onlyResourceOfType(template, 'AWS::StepFunctions::StateMachine');
    for (const metric of ['ExecutionsFailed', 'ExecutionsTimedOut']) {
      const alarm = alarmOn(template, 'AWS/States', metric, { StateMachineArn: `<${machineId}>` });
      expect([alarm.threshold, alarm.comparison], metric).toEqual([0, 'GreaterThanThreshold']);
    }
    const [intakeId] = functionWithHandler(template, 'rollouts');
    const intake = alarmOn(template, 'AWS/Lambda', 'Errors', { FunctionName: `<${intakeId}>` });
    expect([intake.threshold, intake.comparison]).toEqual([0, 'GreaterThanThreshold']);
  });

  it("alarms when the tracking queue's oldest re-check is older than any re-check schedule explains", () => {
    const tracking = describeTracking(template);
    const alarm = alarmOn(template, 'AWS/SQS', 'ApproximateAgeOfOldestMessage', {
      QueueName: `<${tracking.queueId}.QueueName>`,
    });
    const queue = template.Resources[tracking.queueId].Properties;
    // The longest wait of a healthy check: the longest delay, then a failed receive's visibility timeout.
    expect(alarm.threshold).toBeGreaterThan(
      tracking.config.tracking.maxDelaySeconds + queue.VisibilityTimeout,
    );
    expect(alarm.comparison).toBe('GreaterThanThreshold');
  });

  it("alarms on PublishFailed, the metric the publisher emits under the functions' namespace and service", () => {
    expect(emittedMetricNames()).toContain('PublishFailed');
    const alarm = alarmOn(template, METRICS_NAMESPACE, 'PublishFailed', { service: SERVICE_NAME });
    expect([alarm.threshold, alarm.comparison]).toEqual([0, 'GreaterThanThreshold']);
  });

  it('sends every alarm, and its recovery, to the one topic the stack creates', () => {
    const alarms = alarmsOf(template);
    expect(alarms.length).toBeGreaterThanOrEqual(8);
    for (const alarm of alarms) {
      expect(alarm.actions, alarm.id).toEqual([topicArn]);
      expect(alarm.okActions, alarm.id).toEqual([topicArn]);
    }
    expect(evaluate(template, template.Outputs.AlarmTopicArn.Value)).toBe(topicArn);
  });

  it('has one dashboard showing every metric the functions emit', () => {
    const [, dashboard] = onlyResourceOfType(template, 'AWS::CloudWatch::Dashboard');
    const body = JSON.parse(evaluate(template, dashboard.Properties.DashboardBody));
    const shown = new Set<string>();
    for (const widget of body.widgets) {
      let previous: string[] = [];
      for (const row of widget.properties.metrics as unknown[][]) {
        // CloudWatch's shorthand: "." repeats the row above, "..." the rest of it.
        const cells = row.filter((cell) => typeof cell === 'string') as string[];
        const expanded =
          cells[0] === '...' ? previous : cells.map((cell, i) => (cell === '.' ? previous[i] : cell));
        if (expanded[0] === METRICS_NAMESPACE) shown.add(expanded[1] as string);
        previous = expanded as string[];
      }
    }
    expect([...shown].sort()).toEqual(emittedMetricNames());
  });

  it('traces both functions with X-Ray through the runtime', () => {
    for (const name of ['upgrade', 'track']) {
      const [, fn] = functionWithHandler(template, name);
      expect(fn.Properties.TracingConfig, name).toEqual({ Mode: 'Active' });
      const roleId = /^<(.+)\.Arn>$/.exec(evaluate(template, fn.Properties.Role))?.[1] ?? '';
      expect(grantsOf(roleStatements(template, roleId)), name).toEqual(expect.arrayContaining(X_RAY_GRANTS));
    }
  });

  it('writes an HTTP API access log line per request, as JSON naming the request', () => {
    const [, stage] = onlyResourceOfType(template, 'AWS::ApiGatewayV2::Stage');
    const settings = evaluate(template, stage.Properties.AccessLogSettings);
    const logGroupId = /^<(.+)\.Arn>$/.exec(settings.DestinationArn)?.[1] ?? '';
    expect(template.Resources[logGroupId]?.Type).toBe('AWS::Logs::LogGroup');
    expect(JSON.parse(settings.Format)).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
    });
  });

  it('keeps the table, the queues and every log group when the stack is removed or they are replaced', () => {
    const kept = [
      ...resourcesOfType(template, 'AWS::DynamoDB::Table'),
      ...resourcesOfType(template, 'AWS::SQS::Queue'),
      ...resourcesOfType(template, 'AWS::Logs::LogGroup'),
    ];
    // Tables: idempotency, rollouts; queues: failed deliveries, tracking; log groups: five functions'
    // and the HTTP API's access log.
    expect(kept.length).toBe(2 + 2 + 6);
    for (const [id, resource] of kept) {
      expect([resource.DeletionPolicy, resource.UpdateReplacePolicy], id).toEqual(['Retain', 'Retain']);
    }
  });

  it('adds no schema registry unless asked to', () => {
    const registry = [
      ...resourcesOfType(template, 'AWS::EventSchemas::Registry'),
      ...resourcesOfType(template, 'AWS::EventSchemas::Schema'),
    ];
    expect(registry.length).toBeGreaterThan(1);
    for (const [id, resource] of registry)
      expect(conditionHolds(template, resource.Condition), id).toBe(false);
  });
});

describe('serverless package on the default bus, in the longest region, with the longest stage', () => {
  const LONGEST_REGION = 'ap-southeast-1';
  const STAGE = 's'.repeat(MAX_STAGE_LENGTH);
  const TOPIC = `arn:aws:sns:${LONGEST_REGION}:${ACCOUNT}:on-call`;
  const SOURCE = 'com.example.upgrades';
  let template: Template;

  beforeAll(async () => {
    const packaged = await packageService(STAGE, [
      '--region',
      LONGEST_REGION,
      '--param',
      'eventBus=default',
      '--param',
      `alarmTopic=${TOPIC}`,
      '--param',
      'schemaRegistry=true',
      '--param',
      `eventSource=${SOURCE}`,
    ]);
    template = inRegion(packaged.template, LONGEST_REGION);
  }, 180_000);

  it('lets EventBridge write dead letters for every rule (requested, accepted, rollout requested), whose ARNs on the default bus have no bus part', () => {
    const rules = resourcesOfType(template, 'AWS::Events::Rule');
    expect(rules).toHaveLength(3);
    for (const [id, rule] of rules) {
      expect(rule.Properties.EventBusName, id).toBeUndefined();
      const ruleArn = `arn:aws:events:${LONGEST_REGION}:${ACCOUNT}:rule/${rule.Properties.Name}`;
      const target = evaluate(template, rule.Properties.Targets[0]);
      const [sender, ...others] = deadLetterSenders(template, target.DeadLetterConfig.Arn);
      expect(others).toEqual([]);
      expect(sourceArnAllowed(sender as Statement, ruleArn), ruleArn).toBe(true);
      expect(sourceArnAllowed(sender as Statement, ruleArn.replace(/[^/]+$/, 'someone-elses-rule'))).toBe(
        false,
      );
    }
    expect(resourcesOfType(template, 'AWS::Events::EventBus')).toEqual([]);
  });

  it('fits every generated name in its limit, the role name exactly: the stage limit is the one computed', () => {
    const roles = resourcesOfType(template, 'AWS::IAM::Role')
      .map(([, role]) => evaluate(template, role.Properties.RoleName))
      .filter((name) => typeof name === 'string');
    expect(roles).toContain(`taurusdb-proxy-upgrader-${STAGE}-${LONGEST_REGION}-lambdaRole`);
    // One more stage character would not fit IAM's 64: the role name is exactly at the limit.
    expect(Math.max(...roles.map((name) => name.length))).toBe(64);
    for (const [id, resource] of Object.entries<any>(template.Resources)) {
      const properties = evaluate(template, resource.Properties ?? {});
      for (const key of ['RoleName', 'FunctionName', 'Name', 'RegistryName']) {
        const name = properties[key];
        if (typeof name === 'string' && !name.startsWith('<'))
          expect(name.length, `${id}.${key}`).toBeLessThanOrEqual(64);
      }
    }
    expect(stageProblem(STAGE)).toBeUndefined();
    expect(stageProblem(`${STAGE}s`)).toMatch(/has 15 characters; at most 14/);
  });

  it('counts lost dead letters of default-bus rules by their name alone, as AWS/Events reports them', () => {
    const { metrics, summed } = lostDeliveryMetrics(template);
    expect(metrics).toEqual(lostDeliveryExpectations(template, undefined));
    expect(summed).toBe(true);
  });

  it('notifies the existing topic it was given, creating none', () => {
    const [, topic] = onlyResourceOfType(template, 'AWS::SNS::Topic');
    expect(conditionHolds(template, topic.Condition)).toBe(false);
    const alarms = alarmsOf(template);
    expect(alarms.length).toBeGreaterThanOrEqual(8);
    for (const alarm of alarms) expect(alarm.actions, alarm.id).toEqual([TOPIC]);
  });

  it("registers one schema per published DetailType, under the stack's own event source", () => {
    const [, registry] = onlyResourceOfType(template, 'AWS::EventSchemas::Registry');
    expect(conditionHolds(template, registry.Condition)).toBe(true);
    const schemas = resourcesOfType(template, 'AWS::EventSchemas::Schema').map(([, schema]) => schema);
    const detailTypes = new Set([
      ...Object.keys(DETAIL_SCHEMAS),
      ...Object.keys(TRACKING_DETAIL_SCHEMAS),
      ...Object.values(ROLLOUT_DETAIL_TYPES),
    ]);
    expect(schemas).toHaveLength(detailTypes.size);
    const registered = schemas.map((schema) => {
      expect(conditionHolds(template, schema.Condition)).toBe(true);
      expect(schema.Properties.Type).toBe('OpenApi3');
      const envelope = JSON.parse(schema.Properties.Content).components.schemas.AWSEvent;
      expect(envelope['x-amazon-events-source']).toBe(SOURCE);
      expect(schema.Properties.SchemaName).toBe(
        `${SOURCE}@${envelope['x-amazon-events-detail-type'].replaceAll(' ', '')}`,
      );
      return envelope['x-amazon-events-detail-type'];
    });
    expect(registered.sort()).toEqual([...detailTypes].sort());
  });
});
