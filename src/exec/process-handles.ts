/**
 * Process handles: an unguessable token that also names the instance that
 * started the process. A handle resolves only for the client that started
 * the process; another client's handle gets the very answer a wrong one
 * gets, and a handle of another instance says so (routing, not a secret).
 */
import { randomBytes } from '../util/random.ts';
import { ProcessError } from './process-error.ts';
import type { TrackedProcess } from './tracked-process.ts';

/** A new handle on instance `instanceId`. */
export function newProcessId(instanceId: string): string {
  return `p-${randomBytes(16).toString('hex')}@${instanceId}`;
}

/** What the not-found answer names: where handles go and how long ended ones are kept. */
export interface HandleBounds {
  instanceId: string;
  keepExitedSeconds: number;
  maxTotal: number;
  keptEndedPerClient: number;
}

/**
 * The entry a client may see under `processId`. Another client's handle and
 * a wrong one get the same answer; a handle of another instance says so.
 */
export function findProcess(entries: ReadonlyMap<string, TrackedProcess>, owner: string, processId: string, bounds: HandleBounds): TrackedProcess {
  const entry = entries.get(processId);
  if (entry && entry.owner === owner) return entry;
  const at = processId.lastIndexOf('@');
  const instance = at >= 0 ? processId.slice(at + 1) : '';
  if (at >= 0 && /^p-[0-9a-f]{32}$/.test(processId.slice(0, at)) && instance !== bounds.instanceId) {
    throw new ProcessError(
      `process ${processId} belongs to instance '${instance.slice(0, 64)}', and this is instance '${bounds.instanceId}': ` +
        'calls for one process must reach the instance that started it (route by the processId, sticky routing)',
    );
  }
  throw new ProcessError(`process ${processId.slice(0, 200)} not found: it never existed, belongs to another client, or ended more than ${bounds.keepExitedSeconds} s ago or before its client's newest ${bounds.keptEndedPerClient} ended processes (or, with many clients, its share of this instance's ${bounds.maxTotal})`);
}
