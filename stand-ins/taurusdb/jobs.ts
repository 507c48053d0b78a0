import { replies, type TaurusDbReply } from './replies.ts';

/**
 * TaurusDB's jobs (`GET /v3/{project_id}/jobs?id=`): what an accepted upgrade's workflow_id names.
 * Two kinds answer there. A workflow is a job the stand-in started for an accepted upgrade (with
 * `workflows` on): Running for its duration, then Completed (moving the proxy's version) or Failed.
 * A scripted job is one a test set with `setJob`: one state per read, to play any sequence, and it
 * wins over a workflow of the same id.
 */

export type JobStatus = 'Pending' | 'Running' | 'Completed' | 'Failed';

/** One scripted read of a job. */
export interface JobState {
  status: JobStatus;
  fail_reason?: string | null;
}

/** A workflow the stand-in runs, what `job(id)` returns. */
export interface Workflow {
  id: string;
  projectId: string;
  instanceId: string;
  proxyId: string;
  sourceVersion: string;
  targetVersion: string;
  status: JobStatus;
  /** Epoch milliseconds. */
  created: number;
  /** When a Running workflow ends. */
  completesAt: number;
  ended: number | undefined;
  failReason: string | undefined;
}

export interface WorkflowOptions {
  /**
   * How long an accepted upgrade's workflow runs (default 0). 0: the version moves at once and the
   * job is Completed in the upgrade's own answer; more: the job is Running and the proxy keeps its
   * version until the time has passed.
   */
  durationMs?: number;
  /** Every accepted workflow ends Failed with this fail_reason once it has run; the version stays. */
  failReason?: string;
}

export interface JobsOptions {
  workflows: WorkflowOptions;
  now: () => number;
  newWorkflowId: () => string;
  /** Called as a workflow completes, to move the proxy's version. */
  onCompleted: (workflow: Workflow) => void;
}

/** One workflow's target, and why it was refused (then it is born Failed). */
export interface WorkflowStart {
  projectId: string;
  instanceId: string;
  proxyId: string;
  sourceVersion: string;
  targetVersion: string;
  rejection: string | undefined;
}

const JOB_NAME = 'UpgradeProxyVersion';
/** A scripted job plays its status, not a clock: its times are fixed. */
const SCRIPTED_CREATED = '2026-11-27T10:00:00+0000';
const SCRIPTED_ENDED = '2026-11-27T10:05:00+0000';

/** Huawei's job times: `2018-08-06T10:41:14+0000`. */
function huaweiTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().slice(0, 19)}+0000`;
}

const isDone = (status: JobStatus) => status === 'Completed' || status === 'Failed';

/** Huawei answers a job it does not show (or not yet) with 404, DBS.200823 "job not found". */
export function jobNotFound(): TaurusDbReply {
  return replies.error(404, 'DBS.200823', 'The job does not exist.');
}

function scriptedJobBody(id: string, state: JobState): unknown {
  return {
    job: {
      id,
      name: JOB_NAME,
      status: state.status,
      created: SCRIPTED_CREATED,
      ended: isDone(state.status) ? SCRIPTED_ENDED : null,
      fail_reason: state.fail_reason ?? null,
    },
  };
}

function workflowBody(workflow: Workflow): unknown {
  return {
    job: {
      id: workflow.id,
      name: JOB_NAME,
      status: workflow.status,
      created: huaweiTime(workflow.created),
      ended: workflow.ended === undefined ? '' : huaweiTime(workflow.ended),
      process: isDone(workflow.status) ? '100' : '50',
      instance: { id: workflow.instanceId, name: `instance-${workflow.instanceId.slice(0, 8)}` },
      entities: {
        proxy_id: workflow.proxyId,
        source_version: workflow.sourceVersion,
        target_version: workflow.targetVersion,
      },
      fail_reason: workflow.failReason ?? '',
    },
  };
}

/** The jobs' state; the functions below read and change it. */
export interface Jobs {
  options: JobsOptions;
  /** Whether accepted upgrades start workflows (`workflows` given). */
  workflowsOn: boolean;
  scripted: Map<string, Array<JobState | undefined>>;
  workflows: Map<string, Workflow>;
}

export function createJobs(
  options: Omit<JobsOptions, 'workflows'> & { workflows: WorkflowOptions | undefined },
): Jobs {
  return {
    options: { ...options, workflows: options.workflows ?? {} },
    workflowsOn: options.workflows !== undefined,
    scripted: new Map(),
    workflows: new Map(),
  };
}

/** Workflows move on lazily, on the next look: no timer outlives the stand-in, and tests can move the clock. */
export function settle({ options, workflows }: Jobs) {
  const at = options.now();
  for (const workflow of workflows.values()) {
    if (workflow.status !== 'Running' || workflow.completesAt > at) continue;
    workflow.ended = workflow.completesAt;
    if (options.workflows.failReason !== undefined) {
      workflow.status = 'Failed';
      workflow.failReason = options.workflows.failReason;
      continue;
    }
    workflow.status = 'Completed';
    options.onCompleted(workflow);
  }
}

export function runningOn(jobs: Jobs, instanceId: string, proxyId: string): Workflow | undefined {
  return [...jobs.workflows.values()].find(
    (workflow) =>
      workflow.status === 'Running' && workflow.instanceId === instanceId && workflow.proxyId === proxyId,
  );
}

export function startWorkflow(jobs: Jobs, { rejection, ...target }: WorkflowStart): Workflow {
  const created = jobs.options.now();
  const workflow: Workflow = {
    id: jobs.options.newWorkflowId(),
    ...target,
    status: rejection === undefined ? 'Running' : 'Failed',
    created,
    completesAt: created + (jobs.options.workflows.durationMs ?? 0),
    ended: rejection === undefined ? undefined : created,
    failReason: rejection,
  };
  jobs.workflows.set(workflow.id, workflow);
  // A zero-length workflow completes at once, so the upgrade's answer already reflects it.
  settle(jobs);
  return workflow;
}

/** The job's answer; undefined when the query names no id. */
export function jobAnswer(jobs: Jobs, projectId: string, query: URLSearchParams): TaurusDbReply | undefined {
  const id = query.get('id');
  if (!id) return undefined;
  const states = jobs.scripted.get(id);
  if (states) {
    const state = states.length > 1 ? states.shift() : states[0];
    return state === undefined ? jobNotFound() : { body: scriptedJobBody(id, state) };
  }
  const workflow = jobs.workflows.get(id);
  if (!workflow || workflow.projectId !== projectId) return jobNotFound();
  return { body: workflowBody(workflow) };
}

export function scriptJob(jobs: Jobs, id: string, states: Array<JobState | undefined>) {
  jobs.scripted.set(id, [...states]);
}

/** A copy of the workflow, workflows settled. */
export function workflowOf(jobs: Jobs, id: string): Workflow | undefined {
  settle(jobs);
  const workflow = jobs.workflows.get(id);
  return workflow && { ...workflow };
}
