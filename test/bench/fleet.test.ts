import { describe, expect, it } from 'vitest';
import { limitMinutes, runScenario, type Scenario, type ScenarioFigures } from '../../bench/fleet.ts';
import { callsMet, fleetSections, limitMet } from '../../bench/fleet-report.ts';
import { rolloutDefinition } from '../../sandbox/local-rollouts.ts';

/**
 * The fleet of `npm run bench` (issue 18), small, through the same code: the rollout state machine
 * as serverless.yml defines it with the real handlers on the virtual clock, and the Terraform way,
 * each over a fresh stand-in fleet. Counts only: the simulated minutes are the clock's, and only the
 * limit formula's inputs and the goal's bound are asserted of them.
 */

const SMALL: Scenario = {
  name: 'small',
  description: '40 proxies over 8 instances, 10 % of workflows failing',
  // Fewer slots than instances: the tick fills them across instances, one per instance.
  layout: [{ instances: 8, perInstance: 5 }],
  concurrency: 4,
  waves: [{ size: 1 }, { percent: 100 }],
  maxFailures: { percent: 50 },
  failShare: 0.1,
  workflowMinutes: 10,
  soakMinutes: 0,
  terraform: true,
};

describe('the simulated fleet (bench/fleet.ts)', () => {
  let figures: ScenarioFigures;

  it('rolls the fleet out with one POST per proxy, no busy refusal of its own, at most 12 polls per workflow', async () => {
    figures = await runScenario(SMALL, await rolloutDefinition('eu-west-1'), { tickSeconds: 60, seed: 3 });
    const { rollout } = figures;
    expect(figures.proxies).toBe(40);
    expect(rollout.status).toBe('completed');
    // The seed fails some workflows; each failed target counts against the budget and is not retried.
    expect(rollout.counts.failed).toBeGreaterThan(0);
    expect((rollout.counts.completed ?? 0) + (rollout.counts.failed ?? 0)).toBe(40);
    expect(rollout.calls.posts).toBe(40);
    expect(rollout.most.posts).toBe(1);
    expect(rollout.calls.selfBusy).toBe(0);
    // The plan's read and the one right before the POST.
    expect(rollout.calls.versionReads).toBe(80);
    expect(rollout.most.versionReads).toBe(2);
    expect(rollout.most.polls).toBeLessThanOrEqual(12);
    expect(rollout.calls.listings).toBe(8);
    expect(callsMet(figures)).toBe(true);
    // Each execution's transitions and invocations were counted: the Plan, and Advance per tick.
    expect(rollout.invocations).toBeGreaterThan(2);
    expect(rollout.stateTransitions).toBeGreaterThan(rollout.invocations);
  }, 120_000);

  it('compares it with the limit of issue 18: its inputs, and the wall time within the goal', () => {
    // 5 proxies one after another on the busiest instance; ceil(40 / 4) x 10 minutes.
    expect(limitMinutes(SMALL)).toEqual({ minutes: 100, serial: 50, slots: 100 });
    expect(figures.rollout.wallMinutes).toBeGreaterThan(0);
    expect(limitMet(figures)).toBe(true);
  });

  it('simulates the Terraform way against the same fleet: every resource Completed, after busy refusals of its own', () => {
    const terraform = figures.terraform;
    expect(terraform).toBeDefined();
    if (terraform === undefined) return;
    expect(terraform.completed).toBe(40);
    // Sorted keys put an instance's proxies side by side: the parallel creates collide on it.
    expect(terraform.busyRefusals).toBeGreaterThan(0);
    expect(terraform.applies).toBeGreaterThan(1);
    // Refused and failed creates are POSTed again by the next apply.
    expect(terraform.calls.posts).toBe(40 + terraform.failures);
  });

  it('reports each goal with met / not met', () => {
    const text = JSON.stringify(
      fleetSections({
        settings: {
          tickSeconds: 60,
          seed: 3,
          terraform: { parallelism: 10, pollMs: 10_000, maxApplies: 200 },
        },
        scenarios: [figures],
        realSeconds: 1,
      }),
    );
    expect(text).toContain('limit met');
    expect(text).not.toContain('NOT MET');
    const slow = { ...figures, rollout: { ...figures.rollout, wallMinutes: 116 } };
    expect(limitMet(slow)).toBe(false);
    const busy = {
      ...figures,
      rollout: { ...figures.rollout, calls: { ...figures.rollout.calls, selfBusy: 1 } },
    };
    expect(callsMet(busy)).toBe(false);
  });
});
