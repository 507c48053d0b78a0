/**
 * The authenticator's answer to a 401: re-reading the credentials secret and replacing a project's
 * token, and the labels on handed-out headers that tell whether a 401 to them is already dealt with.
 */
import type { SecretReader } from '../../aws/secrets.ts';
import type { HuaweiCredentials } from './credentials.ts';
import type { ProjectState, ProjectTokens } from './project-tokens.ts';

/** What a set of headers was made from, to tell whether a 401 to them is already dealt with. */
export interface Issued {
  secretGeneration: number;
  tokenGeneration: number;
}

export interface RefresherOptions {
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
export function createRefresher(options: RefresherOptions) {
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
