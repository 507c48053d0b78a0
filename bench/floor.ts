/**
 * The cold-start floor of issue 8: a Middy handler that imports only what the job cannot do without
 * (undici for TaurusDB and IAM, the AWS SDK clients and the commands the function sends) and does
 * nothing. bench/cold-start.ts bundles it exactly as serverless.yml bundles the function.
 */
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import middy from '@middy/core';
import { Agent } from 'undici';

// Referenced from the handler so the bundler keeps them: a floor whose clients were tree-shaken away
// would flatter the function. The DynamoDB commands are the four duplicate suppression sends.
const unavoidable = [
  Agent,
  SecretsManagerClient,
  GetSecretValueCommand,
  EventBridgeClient,
  PutEventsCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  DeleteItemCommand,
];

export const handler = middy().handler(async () => ({ statusCode: 204, modules: unavoidable.length }));
