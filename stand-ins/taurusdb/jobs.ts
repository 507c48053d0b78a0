import { createHash } from 'node:crypto';
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
  /**
   * This share (0 to 1) of the accepted workflows ends Failed once it has run (with `failReason`, or
   * a default one), drawn per workflow from `seed`: the same proxy's n-th workflow fails or not
   * whatever the order upgrades arrive in, so two callers of one fleet meet the same failures.
   */
  failShare?: number;
  /** The draw's seed (default 1). */
  seed?: number;
}

/** Why a drawn workflow failed, when `failReason` gives none (wording after TaurusDB's job answers). */
export const DRAWN_FAIL_REASON = 'Failed to upgrade the proxy kernel: the proxy node is abnormal.';

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
      fail_reason: workflow.status === 'Failed' ? (workflow.failReason ?? '') : '',
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
  /** The workflows still Running (a fleet has thousands of ended ones; settling looks at these only). */
  running: Set<Workflow>;
  /** Accepted workflows so far per `project/instance/proxy`, for the failure draw. */
  ordinals: Map<string, number>;
}

export function createJobs(
  options: Omit<JobsOptions, 'workflows'> & { workflows: WorkflowOptions | undefined },
): Jobs {
  return {
    options: { ...options, workflows: options.workflows ?? {} },
    workflowsOn: options.workflows !== undefined,
    scripted: new Map(),
    workflows: new Map(),
    running: new Set(),
    ordinals: new Map(),
  };
}

/** A uniform draw in [0, 1) for one workflow: SHA-256 of the seed and the workflow's proxy and ordinal. */
function draw(seed: number, workflow: Workflow, ordinal: number): number {
  const digest = createHash('sha256')
    .update(`${seed}/${workflow.projectId}/${workflow.instanceId}/${workflow.proxyId}/${ordinal}`)
    .digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** Workflows move on lazily, on the next look: no timer outlives the stand-in, and tests can move the clock. */
export function settle(jobs: Jobs) {
  const { options } = jobs;
  const at = options.now();
  for (const workflow of jobs.running) {
    if (workflow.completesAt > at) continue;
    jobs.running.delete(workflow);
    workflow.ended = workflow.completesAt;
    if (workflow.failReason !== undefined) {
      workflow.status = 'Failed';
      continue;
    }
    workflow.status = 'Completed';
    options.onCompleted(workflow);
  }
}

/** The workflow running on the instance, or only on that proxy of it when one is given. */
export function runningOn(jobs: Jobs, instanceId: string, proxyId?: string): Workflow | undefined {
  for (const workflow of jobs.running) {
    if (workflow.instanceId === instanceId && (proxyId === undefined || workflow.proxyId === proxyId))
      return workflow;
  }
  return undefined;
}

/** Why an accepted workflow will end Failed once it has run; undefined when it completes. */
function drawnFailure(jobs: Jobs, workflow: Workflow): string | undefined {
  const { failReason, failShare = 0, seed = 1 } = jobs.options.workflows;
  if (failShare <= 0) return failReason;
  const key = `${workflow.projectId}/${workflow.instanceId}/${workflow.proxyId}`;
  const ordinal = jobs.ordinals.get(key) ?? 0;
  jobs.ordinals.set(key, ordinal + 1);
  return draw(seed, workflow, ordinal) < failShare ? (failReason ?? DRAWN_FAIL_REASON) : undefined;
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
  if (rejection === undefined) {
    // Kept on the workflow until it ends; the job answer shows it only once Failed.
    workflow.failReason = drawnFailure(jobs, workflow);
    jobs.running.add(workflow);
  }
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
