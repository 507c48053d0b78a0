/**
 * The cold-start floor of issue 18: a Middy handler making the first invocation's calls with the
 * clients the function uses (the SDK's Secrets Manager, DynamoDB and EventBridge clients, undici for
 * IAM and TaurusDB), in the function's order, and nothing else: no validation, no signature check, no
 * logging, metrics or duplicate-suppression library. bench/cold-start.ts bundles it as serverless.yml
 * bundles the function and runs its import and first invocation in a fresh process, as the function's.
 */
import { DynamoDBClient, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { Agent } from 'undici';

const env = process.env;
const secrets = new SecretsManagerClient({});
const dynamo = new DynamoDBClient({});
const events = new EventBridgeClient({});
const agent = new Agent({ keepAliveTimeout: 10_000 });

async function readJson(secretId: string | undefined) {
  const { SecretString } = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
  return JSON.parse(SecretString ?? '{}');
}

async function call(url: string, method: 'GET' | 'POST', headers: Record<string, string>, body?: string) {
  const answer = await agent.request({
    origin: new URL(url).origin,
    path: new URL(url).pathname,
    method,
    headers,
    body: body ?? null,
  });
  return { headers: answer.headers, json: JSON.parse(await answer.body.text()) };
}

const expiration = () => ({ N: String(Math.floor(Date.now() / 1000) + 3600) });
function claim(id: string) {
  return new PutItemCommand({
    TableName: env.IDEMPOTENCY_TABLE,
    Item: { id: { S: id }, expiration: expiration() },
    ConditionExpression: 'attribute_not_exists(id) OR #expiration < :now',
    ExpressionAttributeNames: { '#expiration': 'expiration' },
    ExpressionAttributeValues: { ':now': { N: String(Math.floor(Date.now() / 1000)) } },
  });
}

export const handler = middy<{ body: string; headers: Record<string, string> }>().handler(async (event) => {
  await readJson(env.WEBHOOK_SECRET_ID);
  const request = JSON.parse(event.body);
  const key = `floor#${event.headers['webhook-id']}`;
  await dynamo.send(claim(`${key}.delivery`));
  await dynamo.send(claim(key));
  const credentials = await readJson(env.HUAWEI_CREDENTIALS_SECRET_ID);
  const iam = await call(
    `${env.HUAWEI_IAM_ENDPOINT}/v3/auth/tokens`,
    'POST',
    { 'content-type': 'application/json;charset=utf8', accept: 'application/json' },
    JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: {
            user: {
              domain: { name: credentials.domain_name },
              name: credentials.user_name,
              password: credentials.password,
            },
          },
        },
        scope: { project: { id: request.project_id } },
      },
    }),
  );
  const headers = {
    accept: 'application/json',
    'x-auth-token': String(iam.headers['x-subject-token']),
    'x-language': 'en-us',
  };
  const proxy = `${env.TAURUSDB_ENDPOINT}/v3/${request.project_id}/instances/${request.instance_id}/proxy/${request.proxy_id}`;
  await call(`${proxy}/taurusproxy/proxy-version`, 'GET', headers);
  await dynamo.send(claim(`${key}.sending`));
  const upgrade = await call(
    `${proxy}/upgrade-version`,
    'POST',
    { ...headers, 'content-type': 'application/json' },
    JSON.stringify({ source_version: request.source_version, target_version: request.target_version }),
  );
  await dynamo.send(
    new UpdateItemCommand({
      TableName: env.IDEMPOTENCY_TABLE,
      Key: { id: { S: key } },
      UpdateExpression: 'SET #data = :data',
      ExpressionAttributeNames: { '#data': 'data' },
      ExpressionAttributeValues: { ':data': { S: JSON.stringify(upgrade.json) } },
    }),
  );
  await events.send(
    new PutEventsCommand({
      Entries: [
        {
          Source: 'taurusdb.proxy-upgrader',
          DetailType: 'Proxy Upgrade Accepted',
          Detail: JSON.stringify({ request, result: upgrade.json }),
          EventBusName: env.EVENT_BUS_NAME,
        },
      ],
    }),
  );
  return { statusCode: 200, body: JSON.stringify({ outcomes: [{ outcome: 'accepted' }] }) };
});
