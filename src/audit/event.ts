/** The audit log's line shape (DESIGN.md "Audit log"). */

/**
 * Every event type a line may carry (`process_exit`: a long-lived process
 * ended — exited, killed, timed out, lost with its launcher;
 * `audit_recovered`: the log is writable again after an outage, with the
 * lines it lost, written under HIDE_AUDIT_ON_ERROR=refuse;
 * `audit_lines_lost`: the writer found the file without lines its checkpoint
 * recorded — cut, emptied, deleted or rewritten by something else — and
 * this line, chained on from the last recorded one, says so for good;
 * `audit_lines_adopted`: the writer took in whole lines after the last its
 * checkpoint recorded, which no writer recorded — a server killed between a
 * batch and its checkpoint, or lines added since — and says so for good;
 * `request_refused`: a tools/call refused at the protocol layer once its
 * message was read — a repeated name, routing headers that disagree with
 * it, an unsupported version or media type, bad params, an unknown tool).
 */
export const AUDIT_EVENT_TYPES = [
  'tool_call',
  'auth_failure',
  'rate_limit_exceeded',
  'ip_denied',
  'origin_denied',
  'host_denied',
  'keys_reloaded',
  'permission_denied',
  'request_refused',
  'process_exit',
  'audit_recovered',
  'audit_lines_lost',
  'audit_lines_adopted',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  event_type: AuditEventType;
  correlation_id: string | null;
  client_id: string | null;
  client_ip: string | null;
  api_key_hash: string | null;
  user: string | null;
  tool_name: string | null;
  arguments: unknown;
  result: unknown;
  error: string | null;
  /** Never written: what `arguments_hmac` digests on a tool call's line (the arguments its tool took). */
  digestedArguments?: Record<string, unknown>;
  /** Only for a caller signed in with an OAuth token: its issuer, OAuth client (`client_id`/`azp`) and scopes. */
  oauth?: { issuer: string; client_id: string | null; scopes: readonly string[] };
}

/** An event of the audit writer's own (a loss, an outage, lines taken in): no client, call or tool behind it. */
export function writerEvent(event_type: AuditEventType, result: unknown, error: string | null): AuditEvent {
  return { event_type, correlation_id: null, client_id: null, client_ip: null, api_key_hash: null, user: null, tool_name: null, arguments: null, result, error };
}

/** Anything that records audit events (the JSON Lines writer, or a no-op when disabled). */
export interface AuditSink {
  /**
   * `warning`: a refusal's line for the operator's log (stderr). The refusal
   * throttle prints it when it writes the event and holds it back with the
   * event; sinks that only store events ignore it.
   */
  write(event: AuditEvent, warning?: string): void;
  /** Flushes buffered lines to disk. */
  flush(): Promise<void> | void;
  close(): Promise<void> | void;
}
