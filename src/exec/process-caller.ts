/**
 * Who started or called a long-running process, as the audit log records it,
 * and the audit lines the process table writes about processes: a cap's
 * refusal and a process's end.
 */
import type { AuditEvent } from '../audit/event.ts';

/** Who is asking, as the audit log records it. */
export interface Caller {
  clientId: string;
  clientIp: string | null;
  apiKeyHash: string | null;
  user: string | null;
  correlationId: string;
  /** A caller signed in with an OAuth token: its lines carry this, as every line of such a caller does. */
  oauth?: AuditEvent['oauth'];
}

/** The `oauth` field of a line about `caller`: also what tells the refusal throttle a token caller is signed in. */
function oauthOf(caller: Caller): Pick<AuditEvent, 'oauth'> {
  return caller.oauth ? { oauth: caller.oauth } : {};
}

/** The line of a start refused at a cap (`limit` names it, `max` is its value). */
export function capRefusalEvent(caller: Caller, message: string, limit: string, max: number): AuditEvent {
  return {
    event_type: 'rate_limit_exceeded',
    correlation_id: caller.correlationId,
    client_id: caller.clientId,
    client_ip: caller.clientIp,
    api_key_hash: caller.apiKeyHash,
    user: caller.user,
    tool_name: 'process_start',
    arguments: null,
    // `reason` labels the refusal in /metrics, as the limiter's refusals are.
    result: { reason: limit, limit, max },
    error: message,
    ...oauthOf(caller),
  };
}

/** What a process_exit line says about the process that ended. */
export interface EndedProcess {
  id: string;
  caller: Caller;
  command: string;
  arguments: string[];
  terminal: boolean;
  status: string;
  exitCode: number | null;
  signal: string | null;
  reason: string | null;
  /** Its output: bytes written in all, and bytes its ring dropped. */
  ring: { readonly total: number; readonly droppedTotal: number };
}

/** The line of a process's end, under its start's correlation id and caller. */
export function processExitEvent(e: EndedProcess, durationMs: number): AuditEvent {
  return {
    event_type: 'process_exit',
    correlation_id: e.caller.correlationId,
    client_id: e.caller.clientId,
    client_ip: e.caller.clientIp,
    api_key_hash: e.caller.apiKeyHash,
    user: e.caller.user,
    tool_name: 'process_start',
    arguments: { processId: e.id, command: e.command, arguments: e.arguments, terminal: e.terminal },
    result: { status: e.status, exitCode: e.exitCode, signal: e.signal, durationMs, bytesOut: e.ring.total, dropped: e.ring.droppedTotal, reason: e.reason },
    error: null,
    ...oauthOf(e.caller),
  };
}
