import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.ts';

export interface SecretsManagerStandIn {
  server: LoopbackServer;
  /** Put or replace a secret's SecretString (a string is stored as is; anything else as JSON). */
  put(secretId: string, value: unknown): void;
  remove(secretId: string): void;
  /** While true every call answers 503, as a Secrets Manager outage would. */
  failing: boolean;
  /** How many GetSecretValue calls asked for this secret id. */
  reads(secretId: string): number;
  /** A real SDK client aimed at the stand-in. */
  client(): SecretsManagerClient;
  close(): Promise<void>;
}

/**
 * Secrets Manager's JSON 1.1 protocol, as much as GetSecretValue needs. The real SDK client talks to
 * it through its endpoint setting (`AWS_ENDPOINT_URL_SECRETS_MANAGER` in handler tests).
 */
export async function startSecretsManagerStandIn(): Promise<SecretsManagerStandIn> {
  const secrets = new Map<string, string>();
  const state = { failing: false };
  const server = await startLoopbackServer((request, response) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    if (state.failing) {
      sendJson(response, 503, { __type: 'ServiceUnavailableException', message: 'stand-in outage' });
      return;
    }
    if (target !== 'secretsmanager.GetSecretValue') {
      sendJson(response, 400, { __type: 'InvalidRequestException', message: `unsupported target ${target}` });
      return;
    }
    const { SecretId } = JSON.parse(request.body) as { SecretId: string };
    const value = secrets.get(SecretId);
    if (value === undefined) {
      sendJson(response, 400, {
        __type: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
      });
      return;
    }
    sendJson(response, 200, {
      ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${SecretId}-AbCdEf`,
      Name: SecretId,
      SecretString: value,
      VersionId: 'f3b9c8d0-0000-4000-8000-000000000001',
      VersionStages: ['AWSCURRENT'],
      CreatedDate: 1_795_000_000,
    });
  });
  const standIn: SecretsManagerStandIn = {
    server,
    put(secretId, value) {
      secrets.set(secretId, typeof value === 'string' ? value : JSON.stringify(value));
    },
    remove(secretId) {
      secrets.delete(secretId);
    },
    get failing() {
      return state.failing;
    },
    set failing(value: boolean) {
      state.failing = value;
    },
    reads(secretId) {
      return server.requests.filter(
        (request) =>
          request.headers['x-amz-target'] === 'secretsmanager.GetSecretValue' &&
          (JSON.parse(request.body) as { SecretId?: string }).SecretId === secretId,
      ).length;
    },
    client() {
      return new SecretsManagerClient({
        endpoint: server.url,
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-access-key' },
        maxAttempts: 1,
      });
    },
    close: () => server.close(),
  };
  return standIn;
}
