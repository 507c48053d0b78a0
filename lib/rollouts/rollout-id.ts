/**
 * What a rollout id may be, in one place for the request, the control routes and the events' schema.
 * A module of its own so the events' contract (loaded by every function) does not load the request's
 * schemas with it.
 */
export const ROLLOUT_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
export const ROLLOUT_ID_RULE = 'must contain only letters, digits, "-" and "_" (1 to 64 characters)';
