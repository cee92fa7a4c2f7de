/**
 * What every scenario receives and returns: the run's mode, scratch space,
 * lazily started shared servers, and the row it fills in for the table.
 */
import type { HideSetup, RunningHide } from './hide.ts';

export type Status = 'pass' | 'fail' | 'n/a' | 'error';

export interface Row {
  scenario: string;
  baseline: string;
  ours: string;
  ratio: string;
  target: string;
  status: Status;
  notes: string[];
}

export interface Ctx {
  smoke: boolean;
  /** bench/.work: git-ignored scratch for builds, installs and scripts. */
  work: string;
  /** Seconds for a measurement: the full value, or about one in smoke mode. */
  secs(full: number): number;
  /** A count: the full value, or the smoke value. */
  count(full: number, smoke: number): number;
  /** The shared `dist/hide serve` with the whole pipeline on (audit on). */
  hide(): Promise<{ setup: HideSetup; server: RunningHide }>;
  /** Registers clean-up to run at the end of the bench. */
  defer(fn: () => Promise<void> | void): void;
  /** Memoises one promise per key for the whole run (peer installs, builds). */
  once<T>(key: string, make: () => Promise<T>): Promise<T>;
}

export interface Scenario {
  name: string;
  title: string;
  target: string;
  /** Fills `row` as it goes, so a failure late on keeps the baseline. */
  run(ctx: Ctx, row: Row): Promise<void>;
}

/** `ok` when `value` meets the target, for the status column. */
export const judge = (ok: boolean): Status => (ok ? 'pass' : 'fail');
