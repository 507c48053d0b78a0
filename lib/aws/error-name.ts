/**
 * What an AWS SDK call failed with, for messages and retry decisions: the exception name
 * (ThrottlingException, ConditionalCheckFailedException…), or, for a socket failure, which Node
 * reports as a plain `Error`, its code (ECONNREFUSED…). A wrapper's `cause` (Powertools wraps
 * DynamoDB's errors) is looked through. The Huawei clients name undici's failures by their code first
 * (lib/huawei/), a different rule on purpose: undici's names are generic, its codes precise.
 */
export function awsErrorName(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (!(cause instanceof Error)) return 'unknown error';
  const code = (cause as NodeJS.ErrnoException).code;
  return cause.name === 'Error' && typeof code === 'string' ? code : cause.name;
}
