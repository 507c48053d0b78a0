/**
 * Every error the function raises on purpose. Each carries the HTTP status it maps to and whether
 * its message may be shown to the caller (`expose`). Messages never contain a token, password,
 * webhook key or secret content: callers build them from ids and field names only.
 */
export interface AppErrorOptions {
  cause?: unknown;
}

export class AppError extends Error {
  readonly statusCode: number = 500;
  readonly expose: boolean = false;

  constructor(message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** The environment is missing or has a bad value; raised at cold start. */
export class ConfigError extends AppError {}

export interface ValidationIssue {
  /** Dotted path of the offending field, e.g. `upgrades[3].target_version`; `(root)` for the whole body. */
  path: string;
  message: string;
}

/** The payload is not a valid upgrade request. Nothing was sent upstream. */
export class ValidationError extends AppError {
  override readonly statusCode = 400;
  override readonly expose = true;
  readonly issues: ValidationIssue[];

  constructor(issues: ValidationIssue[], options: AppErrorOptions = {}) {
    super(issues.map((issue) => `${issue.path}: ${issue.message}`).join('; '), options);
    this.issues = issues;
  }
}

/** The event is of no kind this function handles. */
export class UnknownEventError extends AppError {
  override readonly statusCode = 400;
  override readonly expose = true;
}

/** An HTTP request for a path or method this function does not serve (404 or 405). */
export class RouteError extends AppError {
  override readonly expose = true;
  override readonly statusCode: number;
  /** For a 405: the methods the path does allow (the answer's `Allow` header). */
  readonly allow: string | undefined;

  constructor(statusCode: 404 | 405, message: string, allow?: string) {
    super(message);
    this.statusCode = statusCode;
    this.allow = allow;
  }
}

/**
 * The caller is not authorised: the webhook signature is missing, wrong or stale, or the signing key
 * could not be read (SignatureError); or the route's JWT claims are missing or name no caller, or
 * claims arrived on a route that is authorised by its signature.
 */
export class AuthorizationError extends AppError {
  override readonly statusCode = 401;
  override readonly expose = true;
}

/** Webhook signature missing, wrong or stale, or the signing key could not be read. */
export class SignatureError extends AuthorizationError {}

/** A request header the route needs is missing or unusable (e.g. Idempotency-Key on the JWT route). */
export class HeaderError extends AppError {
  override readonly statusCode = 400;
  override readonly expose = true;
}

/** The same delivery is being processed right now by another invocation. */
export class InProgressError extends AppError {
  override readonly statusCode = 409;
  override readonly expose = true;
}

/**
 * The delivery id was already used for a different request (another body under the same webhook-id,
 * event id or delivery_id). Refused as a whole before any step: replaying the stored results with the
 * new body's trigger fields would credit someone with an upgrade they never asked for.
 */
export class DeliveryReusedError extends AppError {
  override readonly statusCode = 422;
  override readonly expose = true;
}

/** A secret in Secrets Manager could not be read or has an unusable shape. The message names the secret id only. */
export class SecretError extends AppError {}

/** Huawei IAM refused or failed the token exchange. */
export class AuthenticationError extends AppError {
  override readonly statusCode = 502;
  override readonly expose = true;
}

export interface UpstreamErrorDetails {
  /** HTTP status TaurusDB answered, or undefined when no answer came back. */
  status?: number | undefined;
  errorCode?: string | undefined;
  errorMsg?: string | undefined;
  /**
   * False only when the request provably never reached TaurusDB (connection refused, DNS failure,
   * throttled by the gateway with 429 until the retry budget ran out), so a redelivery may try again.
   * True for everything TaurusDB saw or may have seen: its own 4xx refusals, 5xx, timeouts after sending.
   */
  mayHaveRun?: boolean | undefined;
}

/**
 * TaurusDB answered with an error status, or answered something unreadable, or could not be reached.
 * 4xx answers are shown to the caller with their own status; 5xx and transport failures become 502.
 */
export class UpstreamError extends AppError {
  override readonly expose = true;
  override readonly statusCode: number;
  readonly status: number | undefined;
  readonly errorCode: string | undefined;
  readonly errorMsg: string | undefined;
  readonly mayHaveRun: boolean;

  constructor(message: string, details: UpstreamErrorDetails, options: AppErrorOptions = {}) {
    super(message, options);
    this.mayHaveRun = details.mayHaveRun ?? true;
    this.status = details.status;
    this.errorCode = details.errorCode;
    this.errorMsg = details.errorMsg;
    this.statusCode = upstreamStatusCode(details.status);
  }
}

/**
 * The HTTP status an upstream answer maps to: TaurusDB's own 4xx refusals keep their status (the
 * caller has something to fix), anything else (5xx, an unusable 200, no answer) is a bad gateway.
 * UpstreamError uses it, and so does the answer for a stored failure that came from one.
 */
export function upstreamStatusCode(status: number | undefined): number {
  return status !== undefined && status >= 400 && status < 500 ? status : 502;
}

/**
 * The duplicate suppression table could not be read or written before the step ran. The invocation
 * fails so the trigger's own retry runs later; nothing was sent upstream for that target.
 */
export class IdempotencyStoreError extends AppError {
  override readonly statusCode = 503;
  // The sender should come back with the same delivery id: say so rather than a bare 500.
  override readonly expose = true;
}

/** Results could not be published to EventBridge after retries; the invocation fails so the trigger retries. */
export class PublishError extends AppError {}

/**
 * A deferred attempt could not be scheduled (EventBridge Scheduler refused or could not be reached).
 * Nothing was sent upstream for that target (a busy refusal means nothing ran), and nothing is stored:
 * the invocation fails so the sender's (or Lambda's) retry tries the target again.
 */
export class DeferralError extends AppError {
  override readonly statusCode = 503;
  override readonly expose = true;
}

/**
 * A rollout id already names a rollout of another request (issue 17: the same rollout_id with a
 * different request is a 409). The same request replays the rollout's status instead.
 */
export class RolloutReusedError extends AppError {
  override readonly statusCode = 409;
  override readonly expose = true;
}

/**
 * Another advance tick wrote the rollout record first (its revision moved on): this tick sent
 * nothing, and the state machine's Retry runs it again on the fresh record.
 */
export class RolloutConflictError extends AppError {
  override readonly statusCode = 409;
}

/**
 * The rollout table or Step Functions could not be used; what the message names was not done, and
 * the caller's retry (the sender's, or the state machine's Retry) does it again.
 */
export class RolloutServiceError extends AppError {
  override readonly statusCode = 503;
  override readonly expose = true;
}

/** No rollout has this id. */
export class RolloutNotFoundError extends AppError {
  override readonly statusCode = 404;
  override readonly expose = true;
}

/** The rollout is not in a state the control call applies to (its message names the state). */
export class RolloutStateError extends AppError {
  override readonly statusCode = 409;
  override readonly expose = true;
}
