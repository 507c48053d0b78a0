import type { SecretReader } from '../../aws/secrets.ts';
import { SecretError } from '../../errors.ts';
import { logger } from '../../observability.ts';
import { createIamClient, type IamClient } from '../iam-client.ts';
import type { ConnectionPools } from '../transport.ts';
import { signRequest } from './aksk-signer.ts';
import {
  type HuaweiCredentials,
  type PasswordCredentials,
  parseCredentials,
  secretValuesOf,
  type TokenCredentials,
} from './credentials.ts';
import type { OutgoingRequest, RequestAuthenticator } from './request-authenticator.ts';
import { createScrubber, type Scrubber } from './scrub.ts';

export interface TokenAuthenticatorOptions {
  /** Secrets Manager id of the credentials secret (any form lib/huawei/auth/credentials.ts reads). */
  secretId: string;
  /** Caches the secret itself; a 401 makes it read the secret again (`refresh`). */
  secrets: SecretReader;
  /** Base URL of IAM; used for the default IAM client. */
  iamEndpoint: string;
  /** The container's connection pools (lib/huawei/transport.ts), for the default IAM client. */
  pools?: ConnectionPools;
  iam?: IamClient;
  /** Epoch milliseconds: when tokens expire, and the `X-Sdk-Date` of AK/SK signatures. */
  now?: () => number;
  /** How long before `expires_at` a cached token is replaced. */
  refreshMarginMs?: number;
  /** Reports an IAM failure while a still valid token stays in use; given ids and reasons only. */
  warn?: (message: string, details: { projectId: string; reason: string }) => void;
}

export interface TokenAuthenticator extends RequestAuthenticator {
  /** The X-Auth-Token value for `projectId`; refused for the AK/SK form, which has no token. */
  getToken(projectId: string): Promise<string>;
  redact: Scrubber;
}

export const defaults = {
  refreshMarginMs: 5 * 60_000,
  // IAM tokens live 24 h; an expires_at further out (a clock gone wrong) is not trusted beyond that.
  maxReuseMs: 24 * 60 * 60_000,
};

interface ProjectToken {
  value: string;
  /** From then on a new token is asked for. */
  reuseUntil: number;
  /** Until then the token may still be sent when IAM cannot issue a new one. */
  validUntil: number;
}

interface ProjectState {
  token?: ProjectToken | undefined;
  /** The IAM exchange in flight, shared by every caller meanwhile. */
  exchanging?: Promise<ProjectToken> | undefined;
  /** Bumped by every token issued after a 401: headers handed out before it carry an older token. */
  generation: number;
  /** The refresh after a 401 in flight, shared by every 401 of the project meanwhile. */
  refreshing?: Promise<void> | undefined;
}

/** What a set of headers was made from, to tell whether a 401 to them is already dealt with. */
interface Issued {
  secretGeneration: number;
  tokenGeneration: number;
}

type TokenWarning = NonNullable<TokenAuthenticatorOptions['warn']>;

const defaultWarn: TokenWarning = (message, details) => logger.warn(message, details);

interface ProjectTokenOptions {
  iam: IamClient;
  now: () => number;
  refreshMarginMs: number;
  warn: TokenWarning;
  /** Told whenever a token is issued, so the scrubber learns of it. */
  onIssued: () => void;
}

/** The password form's tokens, one per project: exchanged once, replaced only by a token issued. */
function createProjectTokens(options: ProjectTokenOptions) {
  const { iam, now, refreshMarginMs, warn } = options;
  const projects = new Map<string, ProjectState>();

  function state(projectId: string): ProjectState {
    let found = projects.get(projectId);
    if (found === undefined) {
      found = { generation: 0 };
      projects.set(projectId, found);
    }
    return found;
  }

  function projectToken(fetchedAt: number, token: string, expiresAt: number): ProjectToken {
    const lifetime = expiresAt - fetchedAt;
    // A margin longer than the token's life would mean a new IAM call for every request; a short-lived
    // token is reused for half its life instead.
    const margin = Math.min(refreshMarginMs, lifetime / 2);
    const validUntil = fetchedAt + Math.min(lifetime, defaults.maxReuseMs);
    return { value: token, reuseUntil: Math.min(fetchedAt + lifetime - margin, validUntil), validUntil };
  }

  /** One exchange in flight per project; its token replaces the cached one only once it is issued. */
  function exchange(credentials: PasswordCredentials, projectId: string): Promise<ProjectToken> {
    const project = state(projectId);
    if (project.exchanging !== undefined) return project.exchanging;
    const fetchedAt = now();
    const exchanging = iam
      .createProjectToken(credentials, projectId)
      .then((issued) => {
        const token = projectToken(fetchedAt, issued.token, issued.expiresAt);
        project.token = token;
        options.onIssued();
        return token;
      })
      .finally(() => {
        project.exchanging = undefined;
      });
    project.exchanging = exchanging;
    return exchanging;
  }

  /** The cached token, a new one once it is due, or while IAM fails the old one until it expires. */
  async function token(credentials: PasswordCredentials, projectId: string): Promise<string> {
    const current = state(projectId).token;
    if (current !== undefined && current.reuseUntil > now()) return current.value;
    try {
      return (await exchange(credentials, projectId)).value;
    } catch (error) {
      if (current === undefined || current.validUntil <= now()) throw error;
      const reason = error instanceof Error ? error.message : 'unknown error';
      warn('IAM could not issue a new token; the current one stays in use until it expires', {
        projectId,
        reason,
      });
      return current.value;
    }
  }

  /** Every project's current token (one a request was sent with is scrubbed by the client anyway). */
  function values(): Array<string | undefined> {
    return [...projects.values()].map((project) => project.token?.value);
  }

  return { state, exchange, token, values };
}

type ProjectTokens = ReturnType<typeof createProjectTokens>;

interface RefresherOptions {
  secretId: string;
  secrets: SecretReader;
  tokens: ProjectTokens;
  readCredentials: () => Promise<HuaweiCredentials>;
}

/**
 * What a 401 sets off: one refresh per project however many requests it hit at once — one secret
 * re-read shared by every project, and for the password form one IAM exchange — and none for a 401
 * to headers handed out before the last refresh, which only need the retry with the newer ones.
 */
function createRefresher(options: RefresherOptions) {
  const { secretId, secrets, tokens } = options;
  const secret = { generation: 0, pending: undefined as Promise<void> | undefined };
  const labels = new WeakMap<object, Issued>();

  /** Re-reads the secret once for every 401 that came while it was read; a failed read keeps the old one. */
  function refreshSecret(): Promise<void> {
    secret.pending ??= secrets
      .refresh(secretId)
      // Rejects only when the secret was never read; readCredentials then reports that itself.
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        secret.generation += 1;
        secret.pending = undefined;
      });
    return secret.pending;
  }

  /** Whether the token a 401 refused has been replaced since (by a refresh, or on its way to expiry). */
  function replacedSince(state: ProjectState, issued: Issued | undefined, refused: string | undefined) {
    if (issued !== undefined && issued.tokenGeneration !== state.generation) return true;
    return refused !== undefined && state.token !== undefined && state.token.value !== refused;
  }

  /** The refresh after a 401 to `rejected` (unknown headers: refresh everything). */
  function refresh(projectId: string, rejected: Readonly<Record<string, string>> | undefined) {
    const issued = rejected === undefined ? undefined : labels.get(rejected);
    const state = tokens.state(projectId);
    state.refreshing ??= (async () => {
      if (issued === undefined || issued.secretGeneration === secret.generation) await refreshSecret();
      const credentials = await options.readCredentials();
      if (credentials.kind !== 'password' || replacedSince(state, issued, rejected?.['x-auth-token'])) return;
      // The token was refused: a new one, or the IAM error. Falling back to the refused one helps nobody.
      await tokens.exchange(credentials, projectId);
      state.generation += 1;
    })().finally(() => {
      state.refreshing = undefined;
    });
    return state.refreshing;
  }

  /**
   * Waits for the refreshes in flight (requests started meanwhile would spend a 401 on what they
   * replace) and returns the label for headers made now. It is taken before the credentials are read,
   * so it can only be older than they are: a late 401 may cost a retry, never a refresh too many.
   */
  async function settled(projectId: string): Promise<Issued> {
    const state = tokens.state(projectId);
    await Promise.all([state.refreshing?.catch(() => undefined), secret.pending]);
    return { secretGeneration: secret.generation, tokenGeneration: state.generation };
  }

  return {
    refresh,
    settled,
    label: (headers: object, issued: Issued) => labels.set(headers, issued),
  };
}

/**
 * The production RequestAuthenticator: what authorises a TaurusDB request, from the credentials secret.
 * - token form: sent as `X-Auth-Token` as is;
 * - password form: exchanged at IAM once per project, the token reused until shortly before it expires;
 * - AK/SK form: the request is signed (lib/huawei/auth/aksk-signer.ts) and carries no token; nothing is cached
 *   beyond the secret, since a signature covers one request at one time.
 * The form is decided per request from the secret as the reader's cache holds it, so a secret rotated
 * from one form to another is followed as soon as it is read again (cache expiry, or a 401's refresh).
 *
 * A 401 refreshes once per project however many requests it hit at once (createRefresher). What worked
 * is kept when a refresh fails: a failed secret re-read leaves the secret read before in use, and an
 * IAM outage near a token's end leaves the token in use until it really expires (only after a 401,
 * which proves the token refused, is an IAM failure final).
 */
export function createTokenAuthenticator(options: TokenAuthenticatorOptions): TokenAuthenticator {
  const { secretId, secrets } = options;
  const now = options.now ?? Date.now;
  const inPlay = credentialsInPlay(() => tokens.values());
  const tokens = createProjectTokens({
    iam: options.iam ?? createIamClient({ endpoint: options.iamEndpoint, pools: options.pools }),
    now,
    refreshMarginMs: options.refreshMarginMs ?? defaults.refreshMarginMs,
    warn: options.warn ?? defaultWarn,
    onIssued: () => inPlay.changed(),
  });

  // The reader hands out the same parsed JSON while the secret is cached, so each value is validated
  // once rather than on every request (a rotated secret is a new object and is validated afresh).
  const parsed = new WeakMap<object, HuaweiCredentials>();
  async function readCredentials(): Promise<HuaweiCredentials> {
    const value = await secrets.readJson(secretId);
    if (typeof value !== 'object' || value === null) return parseCredentials(secretId, value);
    let credentials = parsed.get(value);
    if (credentials === undefined) {
      credentials = parseCredentials(secretId, value);
      parsed.set(value, credentials);
      inPlay.noteCredentials(credentials);
    }
    return credentials;
  }
  const refresher = createRefresher({ secretId, secrets, tokens, readCredentials });

  function tokenFor(credentials: TokenCredentials | PasswordCredentials, projectId: string): Promise<string> {
    // The token form is not cached here: the secret reader's own cache decides when a rotated token is used.
    return credentials.kind === 'token'
      ? Promise.resolve(credentials.token)
      : tokens.token(credentials, projectId);
  }

  return {
    async getToken(projectId) {
      await refresher.settled(projectId);
      const credentials = await readCredentials();
      if (credentials.kind === 'aksk')
        throw new SecretError(
          `secret ${secretId} holds an AK/SK pair, which signs requests and gives no token`,
        );
      return tokenFor(credentials, projectId);
    },
    async headersFor(request: OutgoingRequest) {
      const issued = await refresher.settled(request.projectId);
      const credentials = await readCredentials();
      const headers =
        credentials.kind === 'aksk'
          ? signRequest(credentials, request, new Date(now()))
          : { 'x-auth-token': await tokenFor(credentials, request.projectId) };
      refresher.label(headers, issued);
      return headers;
    },
    invalidate(projectId, rejected) {
      const refreshed = refresher.refresh(projectId, rejected);
      // A caller that does not wait for the refresh learns of a failure from its next headersFor.
      refreshed.catch(() => undefined);
      return refreshed;
    },
    redact: (text) => inPlay.scrubber()(text),
  };
}

/**
 * The secret values the authenticator may have sent or may be echoed: the two latest credentials read
 * (a request signed or sent with the older one may still be answered) and each project's current
 * token. Kept as a scrubber, rebuilt only when they change.
 */
function credentialsInPlay(tokenValues: () => Array<string | undefined>) {
  let recent: string[][] = [];
  let scrubber: Scrubber | undefined;
  return {
    noteCredentials(credentials: HuaweiCredentials) {
      recent = [secretValuesOf(credentials), ...recent].slice(0, 2);
      scrubber = undefined;
    },
    changed() {
      scrubber = undefined;
    },
    scrubber(): Scrubber {
      if (scrubber === undefined) {
        const values = [...recent.flat(), ...tokenValues()].filter(
          (value): value is string => value !== undefined,
        );
        scrubber = createScrubber(values);
      }
      return scrubber;
    },
  };
}
