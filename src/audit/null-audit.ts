/** The audit sink used when auditing is disabled: takes every event and writes nothing. */
import type { AuditEvent, AuditSink } from './event.ts';

/** The sink used when auditing is disabled. */
export class NullAudit implements AuditSink {
  readonly linesWritten = 0;
  write(_event: AuditEvent): void {}
  flush(): void {}
  close(): void {}
}
