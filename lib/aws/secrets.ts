import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretError } from '../errors.ts';
import { logger } from '../observability.ts';

/** The slice of the Secrets Manager client this module uses; tests pass the real client aimed at a stand-in. */
export interface SecretsManagerLike {
  send(command: GetSecretValueCommand): Promise<{ SecretString?: string | undefined }>;
}

/** Reports a re-read that failed while an older value stays in use; it is given ids and reasons only. */
export type SecretWarning = (message: string, details: { secretId: string; reason: string }) => void;

export interface SecretReaderOptions {
  client?: SecretsManagerLike;
  /** How long a read secret is reused; a 401 upstream re-reads it sooner through `refresh`. */
  ttlMs?: number;
  /**
   * After a re-read failed, how long the value read before is served without trying again (capped by
   * `ttlMs`), so an outage costs one Secrets Manager call per interval rather than one per request.
   */
  retryAfterFailureMs?: number;
  now?: () => number;
  warn?: SecretWarning;
}

export interface SecretReader {
  /**
   * The secret's SecretString parsed as JSON. Errors name the secret id, never its content. Once a
   * read succeeded, the value is served on until a later read succeeds, past its time to live too:
   * a Secrets Manager outage then leaves the function working with what it had.
   */
  readJson(secretId: string): Promise<unknown>;
  /**
   * Reads the secret again now (joining a read already in flight) and resolves to the value then in
   * use: the new one, or the previous one when the re-read fails. Rejects only when there is none.
   */
  refresh(secretId: string): Promise<unknown>;
}

const defaults = { ttlMs: 5 * 60_000, retryAfterFailureMs: 30_000 };

const defaultWarn: SecretWarning = (message, details) => logger.warn(message, details);

interface CachedSecret {
  /** The last value read successfully; absent until a read succeeded. */
  value?: { json: unknown };
  /** Until when `value` is served without reading the secret again. */
  freshUntil: number;
  /** The read in flight, shared by every caller meanwhile. */
  pending?: Promise<unknown> | undefined;
}

async function fetchJson(client: SecretsManagerLike, secretId: string): Promise<unknown> {
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

export function createSecretReader(options: SecretReaderOptions = {}): SecretReader {
  // Created on first use, so a cold start that never reads a secret pays nothing; one reader per
  // container (the composition root's), so one client.
  let client = options.client;
  const clientOf = () => {
    client ??= new SecretsManagerClient({});
    return client;
  };
  const ttlMs = options.ttlMs ?? defaults.ttlMs;
  const retryAfterFailureMs = Math.min(options.retryAfterFailureMs ?? defaults.retryAfterFailureMs, ttlMs);
  const now = options.now ?? Date.now;
  const warn = options.warn ?? defaultWarn;
  const cache = new Map<string, CachedSecret>();

  function entryFor(secretId: string): CachedSecret {
    let entry = cache.get(secretId);
    if (entry === undefined) {
      entry = { freshUntil: Number.NEGATIVE_INFINITY };
      cache.set(secretId, entry);
    }
    return entry;
  }

  /** One read at a time per secret; the value it replaces stays in use if it fails. */
  function reread(secretId: string, entry: CachedSecret): Promise<unknown> {
    if (entry.pending !== undefined) return entry.pending;
    const pending = fetchJson(clientOf(), secretId)
      .then(
        (json) => {
          entry.value = { json };
          entry.freshUntil = now() + ttlMs;
          return json;
        },
        (error: unknown) => {
          // With nothing to fall back on the failure is the answer, and it is not cached.
          if (entry.value === undefined) throw error;
          entry.freshUntil = now() + retryAfterFailureMs;
          const reason = error instanceof Error ? error.message : 'unknown error';
          warn('secret could not be read again; the value read before stays in use', { secretId, reason });
          return entry.value.json;
        },
      )
      .finally(() => {
        entry.pending = undefined;
      });
    entry.pending = pending;
    return pending;
  }

  return {
    readJson(secretId) {
      const entry = entryFor(secretId);
      if (entry.value !== undefined && entry.freshUntil > now()) return Promise.resolve(entry.value.json);
      return reread(secretId, entry);
    },
    refresh(secretId) {
      return reread(secretId, entryFor(secretId));
    },
  };
}
