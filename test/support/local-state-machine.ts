import { createRequire } from 'node:module';
import { StateMachine } from 'aws-local-stepfunctions';

/** The engine's log entries (its package does not export the type). */
type EventLog = ReturnType<StateMachine['run']>['eventLogs'] extends AsyncGenerator<infer E> ? E : never;

// biome-ignore lint/suspicious/noExplicitAny: a CloudFormation template is untyped JSON
type Template = any;

/** asl-validator ships no type definitions; this is the slice the suite uses. */
type AslValidator = (definition: unknown) => { isValid: boolean; errorsText(separator?: string): string };
export const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

/**
 * A state machine's definition read back from the packaged template: serverless-step-functions
 * writes DefinitionString as a Fn::Sub whose variables are the Fn::GetAtt of each function; each
 * becomes that function's ARN as CloudFormation would make it.
 */
export function definitionFromTemplate(template: Template, logicalId: string): Record<string, unknown> {
  const sub = template.Resources[logicalId].Properties.DefinitionString['Fn::Sub'];
  const [text, variables] = Array.isArray(sub) ? sub : [sub, {}];
  const resolved = (text as string).replace(/\$\{([^}]+)\}/g, (_match, name: string) => {
    const value = variables[name];
    const getAtt = value?.['Fn::GetAtt'];
    if (getAtt === undefined) throw new Error(`Fn::Sub variable ${name} is not a GetAtt`);
    const functionName = template.Resources[getAtt[0]].Properties.FunctionName;
    return `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`;
  });
  return JSON.parse(resolved);
}

/**
 * The history events one execution would have on AWS, from the local engine's log: a Task with a
 * plain Lambda-ARN resource is 5 (entered, scheduled, started, succeeded, exited), every other
 * state 2 (entered, exited), a retried attempt 3 more (failed, scheduled, started), and the
 * execution's own start and end 2. aws-local-stepfunctions does not enforce the 25,000 limit, so
 * the suite counts.
 */
export function awsHistoryEvents(log: readonly EventLog[]): number {
  let count = 0;
  for (const event of log) {
    if (
      event.type === 'ExecutionStarted' ||
      event.type === 'ExecutionSucceeded' ||
      event.type === 'ExecutionFailed'
    )
      count += 1;
    else if (event.type === 'StateEntered') count += event.state.type === 'Task' ? 4 : 1;
    else if (event.type === 'StateExited') count += 1;
    else if (event.type === 'StateRetried') count += 3;
  }
  return count;
}

export interface LocalRun {
  output: unknown;
  historyEvents: number;
}

/** Runs the definition with its Task states overridden by in-process handlers, its Wait states shortened. */
export async function runLocally(
  definition: Record<string, unknown>,
  input: unknown,
  tasks: Record<string, (input: unknown) => Promise<unknown>>,
  /** Wait state name → milliseconds it waits instead. */
  waits: Record<string, number>,
  /** Aborts the execution (the sandbox's stop); the result then rejects with ExecutionAbortedError. */
  signal?: AbortSignal,
): Promise<LocalRun> {
  // The machine is built from a copy: the engine must not change the definition the test checks.
  const machine = new StateMachine(structuredClone(definition) as never, {
    validationOptions: { checkArn: true, checkPaths: true },
  });
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: tasks as never,
      waitTimeOverrides: waits,
      retryIntervalOverrides: Object.fromEntries(Object.keys(tasks).map((name) => [name, 0])),
    },
  });
  if (signal?.aborted) execution.abort();
  signal?.addEventListener('abort', () => execution.abort(), { once: true });
  const log: EventLog[] = [];
  const collecting = (async () => {
    for await (const event of execution.eventLogs) log.push(event);
  })();
  const output = await execution.result;
  await collecting;
  return { output, historyEvents: awsHistoryEvents(log) };
}
