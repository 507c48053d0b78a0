import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretError } from './errors.ts';

/** The slice of the Secrets Manager client this module uses; tests pass the real client aimed at a stand-in. */
export interface SecretsManagerLike {
  send(command: GetSecretValueCommand): Promise<{ SecretString?: string | undefined }>;
}

export interface SecretReaderOptions {
  client?: SecretsManagerLike;
  /** How long a read secret is reused; a 401 upstream drops it sooner through `invalidate`. */
  ttlMs?: number;
  now?: () => number;
}

export interface SecretReader {
  /** The secret's SecretString parsed as JSON. Errors name the secret id, never its content. */
  readJson(secretId: string): Promise<unknown>;
  invalidate(secretId: string): void;
}

const defaults = { ttlMs: 5 * 60_000 };

let sharedClient: SecretsManagerClient | undefined;
/** One client per container, created on first use so a cold start that never reads a secret pays nothing. */
function defaultClient(): SecretsManagerClient {
  sharedClient ??= new SecretsManagerClient({});
  return sharedClient;
}

export function createSecretReader(options: SecretReaderOptions = {}): SecretReader {
  const ttlMs = options.ttlMs ?? defaults.ttlMs;
  const now = options.now ?? Date.now;
  // Promises are cached, so concurrent first reads share one GetSecretValue call.
  const cache = new Map<string, { value: Promise<unknown>; expiresAt: number }>();

  async function fetchJson(secretId: string): Promise<unknown> {
    const client = options.client ?? defaultClient();
    let secretString: string | undefined;
    try {
      ({ SecretString: secretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId })));
    } catch (error) {
      const reason = error instanceof Error ? error.name : 'unknown error';
      throw new SecretError(`secret ${secretId} could not be read from Secrets Manager (${reason})`, {
        cause: error,
      });
    }
    if (secretString === undefined) throw new SecretError(`secret ${secretId} has no SecretString`);
    try {
      return JSON.parse(secretString);
    } catch {
      // The parser's message quotes the secret text, so it is deliberately not kept as the cause.
      throw new SecretError(`secret ${secretId} is not JSON`);
    }
  }

  return {
    readJson(secretId) {
      const cached = cache.get(secretId);
      if (cached && cached.expiresAt > now()) return cached.value;
      const value = fetchJson(secretId);
      cache.set(secretId, { value, expiresAt: now() + ttlMs });
      // A failed read is not cached: the next invocation tries again.
      value.catch(() => {
        if (cache.get(secretId)?.value === value) cache.delete(secretId);
      });
      return value;
    },
    invalidate(secretId) {
      cache.delete(secretId);
    },
  };
}
