import { randomUUID } from 'node:crypto';
import { type LoopbackServer, sendJson, startLoopbackServer } from './loopback-server.ts';

/**
 * Amazon EventBridge Scheduler's CreateSchedule over its REST-JSON protocol, as
 * @aws-sdk/client-scheduler 3.x sends it: `POST /schedules/{Name}` with a JSON body (GroupName,
 * ScheduleExpression, FlexibleTimeWindow, Target, ActionAfterCompletion, ClientToken, ...). It checks
 * what the API reference requires (the name's 1 to 64 characters of [0-9a-zA-Z-_.], a known group, a
 * flexible window, a target with Arn and RoleArn) and answers 409 `ConflictException` (in the
 * `x-amzn-errortype` header, as the service does) for a name already taken in the group.
 *
 * Schedules are kept with their `at(...)` time; `due(now)` and `fire(name)` play Scheduler invoking
 * the target (a one-time schedule with ActionAfterCompletion DELETE is gone once it fired).
 */

export interface StoredSchedule {
  name: string;
  groupName: string;
  expression: string;
  /** Epoch milliseconds of the `at(...)` expression (UTC unless a time zone is given); NaN for other forms. */
  at: number;
  flexibleWindowMode: string;
  actionAfterCompletion: string | undefined;
  targetArn: string;
  roleArn: string;
  deadLetterArn: string | undefined;
  /** The target's Input, parsed. */
  input: unknown;
  createdAt: number;
}

export interface SchedulerFailure {
  status: number;
  type: string;
  message?: string;
  times?: number;
}

export interface SchedulerStandInOptions {
  /** Schedule groups that exist (`default` always does). */
  groups?: string[];
  region?: string;
  accountId?: string;
  /** Called with each schedule created (the sandbox fires it when due). */
  onCreated?: (schedule: StoredSchedule) => void;
}

export interface SchedulerStandIn {
  server: LoopbackServer;
  url: string;
  /** Schedules that exist now (created and not yet fired), by name within their group. */
  schedules(): StoredSchedule[];
  /** CreateSchedule requests received, however answered. */
  createRequests(): number;
  /** The next CreateSchedule calls fail with this. */
  fail(failure: SchedulerFailure): void;
  /** Schedules whose time has come by `now` (epoch ms), earliest first. */
  due(now: number): StoredSchedule[];
  /** Removes the schedule (ActionAfterCompletion DELETE) and gives the input Scheduler would deliver. */
  fire(name: string, groupName?: string): unknown;
  reset(): void;
  close(): Promise<void>;
}

const NAME_PATTERN = /^[0-9a-zA-Z-_.]{1,64}$/;
const AT_PATTERN = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/;

interface CreateBody {
  GroupName?: string;
  ScheduleExpression?: string;
  ScheduleExpressionTimezone?: string;
  FlexibleTimeWindow?: { Mode?: string; MaximumWindowInMinutes?: number };
  Target?: { Arn?: string; RoleArn?: string; Input?: string; DeadLetterConfig?: { Arn?: string } };
  ActionAfterCompletion?: string;
  State?: string;
}

function problemsOf(name: string, body: CreateBody, groups: Set<string>): string | undefined {
  if (!NAME_PATTERN.test(name)) return `Name must be 1 to 64 characters of [0-9a-zA-Z-_.]`;
  if (!groups.has(body.GroupName ?? 'default')) return undefined;
  if (typeof body.ScheduleExpression !== 'string') return 'ScheduleExpression is required';
  if (!body.FlexibleTimeWindow?.Mode) return 'FlexibleTimeWindow is required';
  if (!body.Target?.Arn || !body.Target.RoleArn) return 'Target.Arn and Target.RoleArn are required';
  if (body.Target.Input !== undefined) {
    try {
      JSON.parse(body.Target.Input);
    } catch {
      return 'Target.Input must be JSON for a Lambda target';
    }
  }
  return undefined;
}

export async function startSchedulerStandIn(
  options: SchedulerStandInOptions = {},
): Promise<SchedulerStandIn> {
  const groups = new Set(['default', ...(options.groups ?? [])]);
  const stored = new Map<string, StoredSchedule>();
  let failures: SchedulerFailure[] = [];
  const region = options.region ?? 'eu-west-1';
  const accountId = options.accountId ?? '123456789012';
  const keyOf = (group: string, name: string) => `${group}/${name}`;

  const error = (response: Parameters<typeof sendJson>[0], status: number, type: string, message: string) =>
    sendJson(
      response,
      status,
      { Message: message },
      { 'x-amzn-errortype': type, 'x-amzn-requestid': randomUUID() },
    );

  const server = await startLoopbackServer((request, response) => {
    const match = /^\/schedules\/([^/?]+)$/.exec(request.url.split('?')[0] ?? '');
    if (request.method !== 'POST' || !match) {
      error(response, 404, 'UnknownOperationException', `no operation for ${request.method} ${request.url}`);
      return;
    }
    const scripted = failures[0];
    if (scripted) {
      scripted.times = (scripted.times ?? 1) - 1;
      if (scripted.times <= 0) failures = failures.slice(1);
      error(response, scripted.status, scripted.type, scripted.message ?? 'scripted failure');
      return;
    }
    const name = decodeURIComponent(match[1] ?? '');
    let body: CreateBody;
    try {
      body = JSON.parse(request.body) as CreateBody;
    } catch {
      error(response, 400, 'ValidationException', 'body is not JSON');
      return;
    }
    const groupName = body.GroupName ?? 'default';
    const problem = problemsOf(name, body, groups);
    if (problem) {
      error(response, 400, 'ValidationException', problem);
      return;
    }
    if (!groups.has(groupName)) {
      error(response, 404, 'ResourceNotFoundException', `Schedule group ${groupName} does not exist.`);
      return;
    }
    if (stored.has(keyOf(groupName, name))) {
      error(response, 409, 'ConflictException', `Schedule ${name} already exists.`);
      return;
    }
    const expression = body.ScheduleExpression ?? '';
    const at = AT_PATTERN.exec(expression);
    const schedule: StoredSchedule = {
      name,
      groupName,
      expression,
      at: at ? Date.parse(`${at[1]}Z`) : Number.NaN,
      flexibleWindowMode: body.FlexibleTimeWindow?.Mode ?? '',
      actionAfterCompletion: body.ActionAfterCompletion,
      targetArn: body.Target?.Arn ?? '',
      roleArn: body.Target?.RoleArn ?? '',
      deadLetterArn: body.Target?.DeadLetterConfig?.Arn,
      input: body.Target?.Input === undefined ? undefined : JSON.parse(body.Target.Input),
      createdAt: Date.now(),
    };
    stored.set(keyOf(groupName, name), schedule);
    options.onCreated?.(schedule);
    sendJson(response, 200, {
      ScheduleArn: `arn:aws:scheduler:${region}:${accountId}:schedule/${groupName}/${name}`,
    });
  });

  const createRequests = () => server.requests.filter((request) => request.method === 'POST').length;
  return {
    server,
    url: server.url,
    schedules: () => [...stored.values()],
    createRequests,
    fail(failure) {
      failures.push(failure);
    },
    due: (now) => [...stored.values()].filter((schedule) => schedule.at <= now).sort((a, b) => a.at - b.at),
    fire(name, groupName) {
      const entry = [...stored.entries()].find(
        ([, schedule]) =>
          schedule.name === name && (groupName === undefined || schedule.groupName === groupName),
      );
      if (!entry) throw new Error(`no schedule ${name}`);
      const [key, schedule] = entry;
      if (schedule.actionAfterCompletion === 'DELETE') stored.delete(key);
      return schedule.input;
    },
    reset() {
      stored.clear();
      server.requests.length = 0;
      failures = [];
    },
    close: () => server.close(),
  };
}
