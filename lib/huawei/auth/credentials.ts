import * as z from 'zod';
import { SecretError } from '../../errors.ts';

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

/** An access key pair: every request is signed with it (lib/huawei/auth/aksk-signer.ts) instead of carrying a token. */
export interface AkSkCredentials {
  kind: 'aksk';
  accessKey: string;
  secretKey: string;
  /** Set for temporary credentials; sent (and signed) as `X-Security-Token`. */
  securityToken?: string | undefined;
}

export type HuaweiCredentials = TokenCredentials | PasswordCredentials | AkSkCredentials;

const nonEmpty = z.string().min(1);

// These values go into HTTP headers (or, for a secret key, an HMAC key) as they are: a stray newline or
// space from a copy-paste would make the HTTP client throw, split the header, or give the gateway's
// "verify aksk signature fail". So they are trimmed and must then be printable ASCII.
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

const akSkForm = z
  .object({ access_key: headerSafe, secret_key: headerSafe, security_token: headerSafe.optional() })
  .transform(
    (fields): AkSkCredentials => ({
      kind: 'aksk',
      accessKey: fields.access_key,
      secretKey: fields.secret_key,
      ...(fields.security_token === undefined ? {} : { securityToken: fields.security_token }),
    }),
  );

const forms = [tokenForm, passwordForm, akSkForm] as const;

/**
 * Exactly one form must match: a secret holding the keys of two forms is refused rather than guessed at,
 * because which one wins would be an accident of the order of `forms`. A new form is one more schema in
 * `forms` and one more line in `expectedForms`, in the same order.
 */
const credentialsSchema = z.xor(forms);

const expectedForms = [
  '{"token"} (printable, no spaces)',
  '{"domain_name","user_name","password"} (each a non-empty string)',
  '{"access_key","secret_key","security_token"?} (each printable, no spaces)',
];

/**
 * The keys of the form(s) the secret was evidently meant to be (it holds some of their keys) that are
 * missing or unusable. Only names from the schemas themselves are returned, never anything of the input.
 */
function unusableKeys(value: unknown, error: z.ZodError): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
  const union = error.issues.find((issue) => issue.code === 'invalid_union');
  if (union?.code !== 'invalid_union') return [];
  const present = new Set(Object.keys(value));
  const keys: string[] = [];
  forms.forEach((form, index) => {
    const known = Object.keys(form.in.shape);
    if (!known.some((key) => present.has(key))) return;
    for (const issue of union.errors[index] ?? []) {
      const key = issue.path[0];
      if (typeof key === 'string' && known.includes(key) && !keys.includes(key)) keys.push(key);
    }
  });
  return keys;
}

/**
 * Turns the credentials secret's parsed JSON into a tagged value. Errors name the secret id, the keys
 * that are missing or unusable and the expected forms only: never a value, and never the zod error,
 * whose issues can carry the input.
 */
export function parseCredentials(secretId: string, value: unknown): HuaweiCredentials {
  const parsed = credentialsSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const ambiguous = parsed.error.issues.some(
    (issue) => issue.code === 'invalid_union' && issue.inclusive === false,
  );
  const unusable = ambiguous ? [] : unusableKeys(value, parsed.error);
  const problem = ambiguous
    ? 'holds the keys of more than one form'
    : `has none of the expected forms${unusable.length > 0 ? ` (missing or unusable: ${unusable.join(', ')})` : ''}`;
  throw new SecretError(
    `secret ${secretId} ${problem}; expected a JSON object that is exactly one of ${expectedForms.join(' or ')}`,
  );
}

/**
 * The values of these credentials that must never be shown, for scrubbing upstream text that may echo
 * them (lib/huawei/auth/scrub.ts). The domain, user and access key name an account rather than unlock it.
 */
export function secretValuesOf(credentials: HuaweiCredentials): string[] {
  switch (credentials.kind) {
    case 'token':
      return [credentials.token];
    case 'password':
      return [credentials.password];
    case 'aksk':
      return credentials.securityToken === undefined
        ? [credentials.secretKey]
        : [credentials.secretKey, credentials.securityToken];
  }
}
