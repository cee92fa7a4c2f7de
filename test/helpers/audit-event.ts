/** A `tool_call` audit event of client alice from loopback, for tests that drive the audit writer directly. */
import type { AuditEvent } from '../../src/audit/event.ts';

export function toolCallEvent(correlationId: string, args: unknown = { command: 'true', arguments: [] }, result: AuditEvent['result'] = { exitCode: 0 }): AuditEvent {
  return {
    event_type: 'tool_call',
    correlation_id: correlationId,
    client_id: 'alice',
    client_ip: '127.0.0.1',
    api_key_hash: null,
    user: null,
    tool_name: 'shell_execute',
    arguments: args as AuditEvent['arguments'],
    result,
    error: null,
  };
}
