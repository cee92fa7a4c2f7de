/**
 * The audit log writer: one redacted JSON object per line, fields in a fixed
 * order, timestamp first. Lines are collected in memory and written with one
 * append per tick, which keeps throughput high and keeps each line whole:
 * the file is opened O_APPEND and every write holds complete lines only.
 * A failing disk is reported once and never takes the server down.
 *
 * For forensics (src/ops/audit-chain.ts) lines can carry a hash chain that
 * continues across restarts and rotations; the file can rotate by size
 * (name → name.1 → … → name.<keep>) and be reopened after an external
 * logrotate moved it (SIGHUP).
 */
import { dirname } from 'node:path';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { resumeHash, sealRecord, lastLine } from '../ops/audit-chain.ts';
import type { AuditEvent, AuditSink } from './audit-event.ts';
import type { Redactor } from './redact.ts';

export interface AuditWriterOptions {
  /** Path of the JSON Lines file, or "-" for stdout. */
  file: string;
  redactor: Redactor;
  /** Called once, on the first failed write; later failures are only counted. */
  onError?: (err: Error) => void;
  /** Add prev_hash and hash to every line (tamper evidence). Default false. */
  chain?: boolean;
  /** Rotate before a write would take the file past this size; 0 or unset = never. */
  maxBytes?: number;
  /** Rotated files kept (name.1 … name.<keep>). Default 5. */
  keep?: number;
}

/** Rotated file names, newest first: name.1 … name.<keep>. */
export function rotatedNames(file: string, keep: number): string[] {
  return Array.from({ length: keep }, (_, i) => `${file}.${i + 1}`);
}

export class AuditWriter implements AuditSink {
  /** Lines handed to the OS (metrics). */
  linesWritten = 0;
  /** Lines lost to write errors or written after close (metrics). */
  linesDropped = 0;
  /** Size-based rotations done (metrics, tests). */
  rotations = 0;
  private fd: number | null;
  private readonly file: string;
  private readonly redactor: Redactor;
  private readonly onError: (err: Error) => void;
  private readonly maxBytes: number;
  private readonly keep: number;
  /** Hash of the last line handed out; null when the chain is off. */
  private lastHash: string | null;
  /** Bytes in the current file as far as we know (rotation). */
  private size = 0;
  /** The file ends in a torn line (crash mid-write): start on a fresh line. */
  private needsNewline = false;
  private pending: { at: number; event: AuditEvent }[] = [];
  private scheduled = false;
  private failed = false;
  private closed = false;

  /** Opens (creating with mode 0600) the file; throws if it cannot, so start-up can refuse. */
  constructor(opts: AuditWriterOptions) {
    this.file = opts.file;
    this.redactor = opts.redactor;
    this.onError = opts.onError ?? (() => {});
    this.maxBytes = opts.file === '-' ? 0 : (opts.maxBytes ?? 0);
    this.keep = Math.max(1, opts.keep ?? 5);
    this.fd = opts.file === '-' ? null : this.open();
    // The chain continues from the last line on disk: the current file, or the newest rotated one.
    this.lastHash = opts.chain ? (opts.file === '-' ? resumeHash([]) : resumeHash([opts.file, `${opts.file}.1`])) : null;
  }

  private open(): number {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const fd = openSync(this.file, 'a', 0o600);
    this.size = fstatSync(fd).size;
    this.needsNewline = this.size > 0 && !lastLine(this.file).endsWithNewline;
    return fd;
  }

  /**
   * Queues one event; the line is built and written at the end of the turn.
   * Redacting, sealing and serialising a whole turn's events in one loop costs
   * a fraction of doing it call by call between two spawns (measured in the
   * server: ~50 µs per audited call one by one, the code never warm).
   */
  write(event: AuditEvent): void {
    if (this.closed) {
      this.linesDropped++;
      return;
    }
    this.pending.push({ at: Date.now(), event });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The line for one event: redacted, fields in a fixed order, sealed when the chain is on. */
  private lineFor(at: number, event: AuditEvent): string {
    const r = this.redactor;
    // Built field by field so the order on disk is fixed and nothing unknown slips in.
    const line = {
      timestamp: new Date(at).toISOString(),
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
    if (this.lastHash === null) return `${JSON.stringify(line)}\n`;
    // Sealed in queue order, so the chain order is the order on disk.
    const sealed = sealRecord(line, this.lastHash);
    this.lastHash = sealed.hash;
    return `${sealed.line}\n`;
  }

  /** Writes everything queued, synchronously; safe to call from exit handlers. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const queued = this.pending;
    this.pending = [];
    const lines: string[] = [];
    for (const q of queued) {
      try {
        lines.push(this.lineFor(q.at, q.event));
      } catch (err) {
        // One event that cannot be serialised must not take the batch (or, from a timer, the server) with it.
        this.linesDropped++;
        this.report(err as Error);
      }
    }
    if (this.maxBytes === 0) {
      this.writeLines(lines);
      return;
    }
    // Cut the batch where the file would pass the limit, so rotation happens on a line boundary.
    let batch: string[] = [];
    let batchBytes = 0;
    for (const line of lines) {
      const n = Buffer.byteLength(line);
      if (this.size + batchBytes + n > this.maxBytes && this.size + batchBytes > 0) {
        this.writeLines(batch);
        batch = [];
        batchBytes = 0;
        this.rotate();
      }
      batch.push(line);
      batchBytes += n;
    }
    this.writeLines(batch);
  }

  private writeLines(lines: string[]): void {
    if (lines.length === 0) return;
    const text = this.needsNewline ? `\n${lines.join('')}` : lines.join('');
    const data = Buffer.from(text, 'utf8');
    try {
      if (this.file === '-') {
        process.stdout.write(data);
      } else {
        if (this.fd === null) throw new Error(`audit log ${this.file} is not open`);
        let off = 0;
        while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      }
      this.needsNewline = false;
      this.size += data.length;
      this.linesWritten += lines.length;
    } catch (err) {
      this.linesDropped += lines.length;
      this.report(err as Error);
    }
  }

  private report(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    try {
      this.onError(err);
    } catch {
      // The reporter failing too must still not crash the server.
    }
  }

  /** name.<keep> is dropped, each name.i moves to name.<i+1>, the live file to name.1. */
  private rotate(): void {
    if (this.fd === null) return;
    try {
      // Someone else (copytruncate) may have emptied the file: then there is nothing to rotate.
      if (fstatSync(this.fd).size === 0) {
        this.size = 0;
        return;
      }
      closeSync(this.fd);
      this.fd = null;
      const names = rotatedNames(this.file, this.keep);
      rmSync(names.at(-1)!, { force: true });
      for (let i = names.length - 2; i >= 0; i--) if (existsSync(names[i]!)) renameSync(names[i]!, names[i + 1]!);
      renameSync(this.file, names[0]!);
      this.rotations++;
    } catch (err) {
      this.report(err as Error);
    }
    try {
      this.fd ??= this.open();
    } catch (err) {
      // Keep what we can: stdout is not an option (it may carry MCP), so lines are dropped until reopen.
      this.report(err as Error);
    }
  }

  /**
   * Closes and reopens the file by name (after an external logrotate moved
   * it; wired to SIGHUP). Buffered lines go to the old file first. The hash
   * chain carries on in memory.
   */
  reopen(): void {
    if (this.closed || this.file === '-') return;
    this.flush();
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        /* already gone */
      }
      this.fd = null;
    }
    try {
      this.fd = this.open();
      this.failed = false;
    } catch (err) {
      this.report(err as Error);
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
