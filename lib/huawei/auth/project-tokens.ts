/**
 * The password form's IAM tokens, one per project: when a cached one is reused, when a new one is
 * asked for, and the one exchange in flight that every caller of a project shares.
 */
import type { IamClient } from '../iam-client.ts';
import type { PasswordCredentials } from './credentials.ts';

// IAM tokens live 24 h; an expires_at further out (a clock gone wrong) is not trusted beyond that.
export const MAX_REUSE_MS = 24 * 60 * 60_000;

/** Reports an IAM failure while a still valid token stays in use; given ids and reasons only. */
export type TokenWarning = (message: string, details: { projectId: string; reason: string }) => void;

export interface ProjectToken {
  value: string;
  /** From then on a new token is asked for. */
  reuseUntil: number;
  /** Until then the token may still be sent when IAM cannot issue a new one. */
  validUntil: number;
}

export interface ProjectState {
  token?: ProjectToken | undefined;
  /** The IAM exchange in flight, shared by every caller meanwhile. */
  exchanging?: Promise<ProjectToken> | undefined;
  /** Bumped by every token issued after a 401: headers handed out before it carry an older token. */
  generation: number;
  /** The refresh after a 401 in flight, shared by every 401 of the project meanwhile. */
  refreshing?: Promise<void> | undefined;
}

export interface ProjectTokenOptions {
  iam: IamClient;
  now: () => number;
  refreshMarginMs: number;
  warn: TokenWarning;
  /** Told whenever a token is issued, so the scrubber learns of it. */
  onIssued: () => void;
}

/** The password form's tokens, one per project: exchanged once, replaced only by a token issued. */
export function createProjectTokens(options: ProjectTokenOptions) {
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
    const validUntil = fetchedAt + Math.min(lifetime, MAX_REUSE_MS);
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

export type ProjectTokens = ReturnType<typeof createProjectTokens>;
