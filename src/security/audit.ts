/**
 * The audit log writer: one redacted JSON object per line, fields in a fixed
 * order, timestamp first. Lines are collected in memory and written with one
 * append per tick, which keeps throughput high and keeps each line whole:
 * the file is opened O_APPEND and every write holds complete lines only.
 * A failing disk is reported once and never takes the server down.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { AuditEvent, AuditSink } from './audit-event.ts';
import type { Redactor } from './redact.ts';

export interface AuditWriterOptions {
  /** Path of the JSON Lines file, or "-" for stdout. */
  file: string;
  redactor: Redactor;
  /** Called once, on the first failed write; later failures are only counted. */
  onError?: (err: Error) => void;
}

export class AuditWriter implements AuditSink {
  /** Lines handed to the OS (metrics). */
  linesWritten = 0;
  /** Lines lost to write errors or written after close (metrics). */
  linesDropped = 0;
  private readonly fd: number | null;
  private readonly redactor: Redactor;
  private readonly onError: (err: Error) => void;
  private buffer: string[] = [];
  private scheduled = false;
  private failed = false;
  private closed = false;

  /** Opens (creating with mode 0600) the file; throws if it cannot, so start-up can refuse. */
  constructor(opts: AuditWriterOptions) {
    this.redactor = opts.redactor;
    this.onError = opts.onError ?? (() => {});
    this.fd = opts.file === '-' ? null : openSync(opts.file, 'a', 0o600);
  }

  write(event: AuditEvent): void {
    if (this.closed) {
      this.linesDropped++;
      return;
    }
    const r = this.redactor;
    // Built field by field so the order on disk is fixed and nothing unknown slips in.
    const line = {
      timestamp: new Date().toISOString(),
      event_type: event.event_type,
      correlation_id: event.correlation_id,
      client_id: event.client_id,
      client_ip: event.client_ip,
      api_key_hash: event.api_key_hash,
      user: event.user === null ? null : r.redactText(event.user),
      tool_name: event.tool_name,
      arguments: r.redact(event.arguments) ?? null,
      result: r.redact(event.result) ?? null,
      error: event.error === null ? null : r.redactText(event.error),
    };
    this.buffer.push(`${JSON.stringify(line)}\n`);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes everything buffered, synchronously; safe to call from exit handlers. */
  flush(): void {
    this.scheduled = false;
    if (this.buffer.length === 0) return;
    const lines = this.buffer;
    this.buffer = [];
    const data = Buffer.from(lines.join(''), 'utf8');
    try {
      if (this.fd === null) {
        process.stdout.write(data);
      } else {
        let off = 0;
        while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      }
      this.linesWritten += lines.length;
    } catch (err) {
      this.linesDropped += lines.length;
      if (!this.failed) {
        this.failed = true;
        try {
          this.onError(err as Error);
        } catch {
          // The reporter failing too must still not crash the server.
        }
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // Already gone; nothing left to lose.
      }
    }
  }
}

/** The sink used when auditing is disabled. */
export class NullAudit implements AuditSink {
  readonly linesWritten = 0;
  write(_event: AuditEvent): void {}
  flush(): void {}
  close(): void {}
}
