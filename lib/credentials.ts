import { z } from 'zod';
import { SecretError } from './errors.ts';

/** A ready X-Auth-Token, rotated by someone else. */
export interface TokenCredentials {
  kind: 'token';
  token: string;
}

/** An IAM user's password, exchanged at IAM for one project-scoped token per project. */
export interface PasswordCredentials {
  kind: 'password';
  domainName: string;
  userName: string;
  password: string;
}

export type HuaweiCredentials = TokenCredentials | PasswordCredentials;

const nonEmpty = z.string().min(1);

// The token goes into an HTTP header as is: a stray newline or space from a copy-paste would make the
// HTTP client throw (or worse, split the header), so it is trimmed and must then be printable ASCII.
const headerSafe = z
  .string()
  .trim()
  .regex(/^[\x21-\x7e]+$/);

const tokenForm = z
  .object({ token: headerSafe })
  .transform(({ token }): TokenCredentials => ({ kind: 'token', token }));

const passwordForm = z.object({ domain_name: nonEmpty, user_name: nonEmpty, password: nonEmpty }).transform(
  (fields): PasswordCredentials => ({
    kind: 'password',
    domainName: fields.domain_name,
    userName: fields.user_name,
    password: fields.password,
  }),
);

/**
 * Exactly one form must match: a secret holding the keys of two forms is refused rather than guessed at,
 * because which one wins would be an accident of the order below. A new form (AK/SK) is one more
 * schema here and one more line in `expectedForms`.
 */
const credentialsSchema = z.xor([tokenForm, passwordForm]);

const expectedForms = [
  '{"token"} (printable, no spaces)',
  '{"domain_name","user_name","password"} (each a non-empty string)',
];

/**
 * Turns the credentials secret's parsed JSON into a tagged value. Errors name the secret id and the
 * expected forms only: never a value, and never the zod error, whose issues can carry the input.
 */
export function parseCredentials(secretId: string, value: unknown): HuaweiCredentials {
  const parsed = credentialsSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const ambiguous = parsed.error.issues.some(
    (issue) => issue.code === 'invalid_union' && issue.inclusive === false,
  );
  const problem = ambiguous ? 'holds the keys of more than one form' : 'has none of the expected forms';
  throw new SecretError(
    `secret ${secretId} ${problem}; expected a JSON object that is exactly one of ${expectedForms.join(' or ')}`,
  );
}
