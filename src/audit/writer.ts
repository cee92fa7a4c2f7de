/**
 * The audit log writer: one JSON object per line (sealed-line.ts), queued and
 * written with one append per tick (batch-queue.ts). The file is opened
 * O_APPEND and every write holds complete lines only. A failing disk never
 * takes the server down; what an outage reports and when the disk is tried
 * again is outage.ts.
 *
 * For forensics (src/ops/audit-chain.ts) lines can carry a hash chain that
 * continues across restarts and rotations, with the first line of each file
 * marked and a checkpoint (`<file>.head`, live-checkpoint.ts) rewritten after
 * every batch; the file can rotate by size (rotation.ts) and be reopened
 * after an external logrotate moved it (SIGHUP).
 *
 * Several servers may share one log (two `hide stdio` sessions under the
 * same default path): each batch is sealed, appended and rotated holding the
 * lock on the log's directory (log-lock.ts), after catching up with what the
 * others appended or rotated, so the lines of all of them form one chain and
 * one set of checkpoints.
 */
import { dirname } from 'node:path';
import { constants, fstatSync, ftruncateSync, mkdirSync, statSync, writeSync } from 'node:fs';
import { openRegularFileSync } from '../util/open-regular-file.ts';
import { hashOf, lastLine, readCheckpoint, resumeHash } from './chain.ts';
import { BatchQueue, type Queued } from './batch-queue.ts';
import { closeQuietly } from '../util/close-quietly.ts';
import { type AuditEvent, type AuditSink, writerEvent } from './event.ts';
import { type AdoptedLines, LiveCheckpoint, type LostLines } from './live-checkpoint.ts';
import { LogLock } from './log-lock.ts';
import { AuditOutage } from './outage.ts';
import type { Redactor } from './redact.ts';
import { rotateFiles } from './rotation.ts';
import { type Line, lastKeptHash, lineFor } from './sealed-line.ts';
import type { ArgumentsDigest } from './arguments-digest.ts';

export interface AuditWriterOptions {
  /** Path of the JSON Lines file, or "-" for a standard stream (below). */
  file: string;
  /** Where "-" writes: stdout, or stderr when stdout carries MCP messages (`hide stdio`). Default stdout. */
  standardStream?: 'stdout' | 'stderr';
  redactor: Redactor;
  /** Adds `arguments_hmac` to tool-call lines; unset, none. */
  argumentsDigest?: ArgumentsDigest | null;
  /** Called on the first failed write of an outage; later failures are only counted until a write succeeds again. */
  onError?: (err: Error) => void;
  /**
   * Trouble that loses no line: a file that no longer matches its checkpoint,
   * lines no writer recorded, a lock not taken in time. Default: onError.
   */
  onWarning?: (err: Error) => void;
  /** Called when a write succeeds after an outage, with the lines it lost. */
  onRecover?: (dropped: number) => void;
  /** Add prev_hash and hash to every line, mark file starts and keep `<file>.head` (tamper evidence). Default false. */
  chain?: boolean;
  /** Rotate before a write would take the file past this size; 0 or unset = never. */
  maxBytes?: number;
  /** Rotated files kept (name.1 … name.<keep>). Default 5. */
  keep?: number;
  /**
   * While failing, try the disk again this often (ms) even when nothing is
   * written, with an `audit_recovered` line; 0 or unset = only when lines come.
   */
  retryMs?: number;
}

/** What the standard stream may hold unwritten before lines are dropped (and counted) instead. */
const MAX_STANDARD_BACKLOG = 4 * 1024 * 1024;

/** The line that records, in the chain, lines taken in that no writer's checkpoint recorded: how many, and after what. */
function linesAdoptedEvent(adopted: AdoptedLines): AuditEvent {
  return writerEvent(
    'audit_lines_adopted',
    { lines: adopted.lines, after: { lines: adopted.recordedLines, bytes: adopted.recordedBytes } },
    'lines after the checkpoint that no writer recorded were taken in: a server killed between a batch and its checkpoint, or lines added since',
  );
}

/** Whether `file` names the file open at `fd` (false when nothing has the name). */
function namesFile(file: string, fd: number): boolean {
  try {
    const named = statSync(file);
    const open = fstatSync(fd);
    return named.ino === open.ino && named.dev === open.dev;
  } catch {
    return false;
  }
}

/** The line that records, in the chain, lines the file lost: what its checkpoint had recorded, and what was left. */
function linesLostEvent(lost: LostLines): AuditEvent {
  return writerEvent(
    'audit_lines_lost',
    { recorded: { lines: lost.lines, bytes: lost.bytes, lastHash: lost.lastHash }, found: { lines: lost.linesNow, bytes: lost.bytesNow } },
    'lines the checkpoint recorded were cut, emptied, deleted or rewritten by something other than a hide server',
  );
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
  private readonly standardStream: NodeJS.WriteStream;
  /** Bytes handed to the standard stream since it last had room (it says so by write() and 'drain'). */
  private standardBacklog = 0;
  /** Why the standard stream can take no more (its reader gone: EPIPE), once it has said so. */
  private standardFailure: Error | null = null;
  private readonly redactor: Redactor;
  private readonly argumentsDigest: ArgumentsDigest | null;
  private readonly onError: (err: Error) => void;
  private readonly maxBytes: number;
  private readonly keep: number;
  /** Hash of the last line handed out; null when the chain is off. */
  private lastHash: string | null;
  /** Bytes in the current file as far as we know (rotation). */
  private size = 0;
  /** The file ends in a torn line (crash mid-write): start on a fresh line. */
  private needsNewline = false;
  /** The next line written is the file's first (it gets `file_start`). */
  private startsFile = false;
  private readonly checkpoint: LiveCheckpoint;
  private readonly queue: BatchQueue;
  private readonly outage: AuditOutage;
  private closed = false;
  /** Held while a batch is sealed, appended and rotated; takes nothing for stdout. */
  private readonly dirLock: LogLock;

  /** Opens (creating with mode 0600) the file; throws if it cannot, so start-up can refuse. */
  constructor(opts: AuditWriterOptions) {
    this.file = opts.file;
    this.redactor = opts.redactor;
    this.argumentsDigest = opts.argumentsDigest ?? null;
    this.onError = opts.onError ?? (() => {});
    this.outage = new AuditOutage({ retryMs: opts.retryMs ?? 0, warn: (err) => this.warn(err), onRecover: opts.onRecover ?? (() => {}), retry: () => this.retry() });
    const notice = opts.onWarning ?? this.onError;
    const warning = (err: Error) => this.warn(err, notice);
    this.checkpoint = new LiveCheckpoint(this.file, (err) => this.report(err), warning);
    this.dirLock = new LogLock(this.file, warning);
    this.queue = new BatchQueue(this.dirLock, () => this.closed, (held) => this.writeBatch(held));
    this.standardStream = opts.standardStream === 'stderr' ? process.stderr : process.stdout;
    this.maxBytes = opts.file === '-' ? 0 : (opts.maxBytes ?? 0);
    this.keep = Math.max(1, opts.keep ?? 5);
    // The chain continues from the last line on disk: the current file, or the newest rotated one.
    this.lastHash = opts.chain ? (opts.file === '-' ? resumeHash([]) : resumeHash([opts.file, `${opts.file}.1`])) : null;
    this.startsFile = opts.file === '-';
    if (opts.file === '-') {
      this.fd = null;
      // Its failures come as an event, not from write(): unheard, the lines after a reader went away were counted
      // as written, and HIDE_AUDIT_ON_ERROR=refuse refused nothing.
      this.standardStream.on('error', (err) => {
        this.standardFailure ??= err;
      });
      this.standardStream.on('drain', () => {
        this.standardBacklog = 0;
      });
      return;
    }
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    this.dirLock.open();
    const held = this.dirLock.take();
    try {
      this.fd = this.open(true);
    } catch (err) {
      this.dirLock.close();
      throw err;
    } finally {
      if (held) this.dirLock.release();
    }
  }

  /** True from a failed write (or rotation, or checkpoint) until a write succeeds again. */
  get failing(): boolean {
    return this.outage.failing;
  }

  /**
   * Opens the file by name and learns where it stands (the caller holds the lock).
   * @param starting the server is starting: check the file against the checkpoint the last run left.
   */
  private open(starting = false): number {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const fd = openRegularFileSync(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    this.catchUp(fd, starting);
    return fd;
  }

  /**
   * Reads the file's end as it is now: size, a torn last line, the hash the
   * next line chains to (another writer's last line, when it wrote after us)
   * and the checkpoint.
   */
  private catchUp(fd: number, starting: boolean, sameFile = false): void {
    this.size = fstatSync(fd).size;
    const last = this.size > 0 ? lastLine(this.file) : null;
    this.needsNewline = last !== null && !last.endsWithNewline;
    this.startsFile = this.size === 0;
    if (this.lastHash === null) return;
    const { lost, adopted, partialIsOurs } = this.checkpoint.take(this.size, last?.line ?? null, starting, last?.partial ?? null, sameFile);
    // An empty file keeps the hash in memory: it continues the file rotated (or moved) before it. A write cut short
    // just before its newline left a whole record: the chain goes on from it, or it would read as an inserted line;
    // but only the one the checkpoint records (a whole record added without its newline would be taken in unsaid).
    const fileEnd = (partialIsOurs ? hashOf(last?.partial ?? null) : null) ?? hashOf(last?.line ?? null) ?? this.lastHash;
    // The next line records the loss, or what was taken in, in the chain: the file alone would otherwise read as one
    // continuing a chain from a file not given (or as whole), and verify pass it. Written now, not with the next call:
    // the checkpoint that held the evidence has just been replaced.
    if (lost !== null) this.queue.pushFirst({ at: Date.now(), event: linesLostEvent(lost) });
    if (adopted !== null) this.queue.pushFirst({ at: Date.now(), event: linesAdoptedEvent(adopted) });
    this.lastHash = lost?.lastHash ?? fileEnd;
  }

  /**
   * Before a batch, holding the lock: follows the name when another writer
   * rotated the file away, and catches up with lines it appended.
   */
  private sync(): void {
    if (this.fd === null) {
      // A rotation or reopen that could not open the new file left none: each batch (and each retry, under refuse)
      // opens it by name again, so the log comes back with the room, not only at the next SIGHUP.
      if (this.file !== '-' && !this.closed) {
        try {
          this.fd = this.open();
        } catch (err) {
          this.report(err as Error);
        }
      }
      return;
    }
    try {
      const now = fstatSync(this.fd);
      let named: ReturnType<typeof statSync> | null = null;
      try {
        named = statSync(this.file);
      } catch {
        /* moved away and not recreated yet: keep writing where we are until SIGHUP */
      }
      // Deleted, not moved (no name leads to it): every line written on would be lost with the descriptor, and counted
      // as written. A new file by the name takes them, and its first line records what the deleted one held.
      if ((named === null && now.nlink === 0) || (named !== null && (named.ino !== now.ino || named.dev !== now.dev))) {
        this.forgetMovedCheckpoint();
        this.closeFile();
        this.fd = this.open();
        return;
      }
      if (now.size !== this.size) this.catchUp(this.fd, false, true);
    } catch (err) {
      this.report(err as Error);
    }
  }

  /**
   * Before the name is opened again: when the file we hold was moved away (an
   * external logrotate, before or after its SIGHUP) and the checkpoint by the
   * name still records it, that checkpoint is the moved file's, and the file
   * the name leads to starts one of its own. Compared with it, the new file
   * would read as that one emptied: lines lost, recorded for good. Not after a
   * deletion (no link left: the lines are gone with it), nor after another hide
   * server's rotation (the checkpoint moved with its file, and the one by the
   * name is the new file's).
   */
  private forgetMovedCheckpoint(): void {
    if (this.fd === null) return;
    const held = fstatSync(this.fd);
    if (held.nlink === 0 || namesFile(this.file, this.fd)) return;
    const cp = readCheckpoint(this.file);
    if (cp === null || cp === 'unreadable' || cp.bytes !== held.size) return;
    let lastHash: string | null;
    try {
      lastHash = hashOf(lastLine(`/proc/self/fd/${this.fd}`).line);
    } catch {
      return;
    }
    if (lastHash === cp.last_hash) this.checkpoint.emptied();
  }

  /** Closes the log and its checkpoint. */
  private closeFile(): void {
    this.checkpoint.dropFd();
    this.fd = closeQuietly(this.fd);
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
    this.queue.push({ at: Date.now(), event });
  }

  /** Writes everything queued, synchronously; safe to call from exit handlers. */
  flush(): void {
    this.queue.flush();
  }

  private writeBatch(held: boolean): void {
    try {
      this.sync();
      this.sealAndWrite();
    } finally {
      if (held) this.dirLock.release();
    }
  }

  private sealAndWrite(): void {
    const queued = this.queue.take();
    // While failing, every batch leads with the line that records the outage, so the first line the disk takes
    // again says what was lost, whichever write gets through first (the retry's, or a call's).
    if (this.outage.failing && this.outage.retries && !queued.some((q) => q.probe)) queued.unshift(this.probeItem());
    let batch: Line[] = [];
    let batchBytes = 0;
    let startsFile = this.startsFile;
    for (const q of queued) {
      let line: Line;
      if (q.probe) q.event = this.outage.recoveredEvent(this.linesDropped);
      try {
        line = lineFor(this.redactor, this.argumentsDigest, q.at, q.event, this.lastHash, startsFile);
        line.probe = q.probe;
        // Rotate on a line boundary, before the line that would take the file past the limit.
        if (this.maxBytes > 0 && this.size + batchBytes + line.bytes > this.maxBytes && this.size + batchBytes > 0) {
          this.writeLines(batch);
          batch = [];
          batchBytes = 0;
          this.rotate();
          startsFile = this.startsFile;
          // Sealed again when it starts the new file, or when the lines before it were lost and the chain stepped back.
          if (startsFile || line.prev !== this.lastHash) line = { ...lineFor(this.redactor, this.argumentsDigest, q.at, q.event, this.lastHash, startsFile), probe: q.probe };
        }
      } catch (err) {
        // One event that cannot be serialised must not take the batch (or, from a timer, the server) with it; nor is
        // it a disk that failed: under refuse that would turn one caller's odd event into every caller's refusal.
        this.warn(err as Error);
        this.linesDropped++;
        continue;
      }
      batch.push(line);
      batchBytes += line.bytes;
      // Sealed in queue order, so the chain order is the order on disk.
      if (line.hash !== null) this.lastHash = line.hash;
      startsFile = false;
    }
    this.writeLines(batch);
  }

  private writeLines(lines: Line[]): void {
    if (lines.length === 0) return;
    const torn = this.needsNewline;
    const text = lines.map((l) => l.text).join('');
    const data = Buffer.from(torn ? `\n${text}` : text, 'utf8');
    let off = 0;
    try {
      if (this.file === '-') {
        this.writeStandard(data, lines.filter((l) => !l.probe).length);
      } else {
        if (this.fd === null) throw new Error(`audit log ${this.file} is not open`);
        while (off < data.length) off += writeSync(this.fd, data, off, data.length - off);
      }
      this.needsNewline = false;
      this.startsFile = false;
      this.size += data.length;
      this.linesWritten += lines.length;
    } catch (err) {
      // A full disk takes what fits. Taken back, the file holds whole lines only, so its checkpoint stays true and
      // verify names the lost lines as a gap; if it cannot be, the file ends in a torn line and the next write must
      // start a fresh one.
      const left = off > 0 && !this.takeBack(off);
      if (left) {
        this.needsNewline = true;
        this.startsFile = false;
        this.size += off;
      }
      this.report(err as Error);
      this.linesDropped += lines.filter((l) => !l.probe).length;
      // While retrying (the `audit_recovered` line will say how many were lost), the chain goes on from the last line
      // on disk, and the recovered line, chained like any other, is the record of the loss.
      if (this.outage.retries && this.lastHash !== null) this.lastHash = lastKeptHash(lines, left ? off - (torn ? 1 : 0) : 0);
      return;
    }
    this.outage.end(this.linesDropped);
    // The torn line the newline completed counts as a line of the file too.
    this.checkpoint.appended(lines.length + (torn ? 1 : 0), lines[0]!.hash, lines.at(-1)!.hash, this.size);
  }

  /**
   * Hands `data` to the standard stream, or throws when it can take no more:
   * its reader is gone, or has let MAX_STANDARD_BACKLOG wait unread (the
   * runtime would queue the rest in memory without end). Lines the stream
   * fails to write after taking them are counted as dropped then.
   */
  private writeStandard(data: Buffer, lines: number): void {
    if (this.standardFailure !== null) throw this.standardFailure;
    if (this.standardBacklog + data.length > MAX_STANDARD_BACKLOG) {
      throw new Error(`the audit log's reader (standard ${this.standardStream === process.stderr ? 'error' : 'output'}) is not keeping up: ${this.standardBacklog} bytes wait unread`);
    }
    const room = this.standardStream.write(data, (err) => {
      if (!err) return;
      const first = this.standardFailure === null;
      this.standardFailure ??= err;
      this.linesWritten -= lines;
      this.linesDropped += lines;
      if (first) this.report(err);
    });
    this.standardBacklog = room ? 0 : this.standardBacklog + data.length;
  }

  /** Cuts the last `bytes` a failed write appended; false when that fails too. */
  private takeBack(bytes: number): boolean {
    if (this.fd === null) return false;
    try {
      ftruncateSync(this.fd, fstatSync(this.fd).size - bytes);
      return true;
    } catch {
      return false;
    }
  }

  /** A write, rotation, reopen or checkpoint failed: starts an outage unless one is under way. */
  private report(err: Error): void {
    this.outage.begin(err, this.linesDropped, this.closed);
  }

  /** One try at the disk while failing: the `audit_recovered` line, queued like any line. */
  private retry(): void {
    if (!this.outage.failing || this.closed) {
      this.outage.stopRetrying();
      return;
    }
    if (this.queue.holdsProbe) return;
    this.queue.push(this.probeItem());
  }

  private probeItem(): Queued {
    return { at: Date.now(), event: this.outage.recoveredEvent(this.linesDropped), probe: true };
  }

  /** Tells the owner without counting as a write failure (which is reported only once). */
  private warn(err: Error, to: (err: Error) => void = this.onError): void {
    try {
      to(err);
    } catch {
      // The reporter failing too must still not crash the server.
    }
  }

  /** Rotates the live file away (rotation.ts) and opens a new one by name. */
  private rotate(): void {
    if (this.fd === null) return;
    let moved = false;
    try {
      // Someone else (copytruncate) may have emptied the file: then there is nothing to rotate.
      if (fstatSync(this.fd).size === 0) {
        this.size = 0;
        this.startsFile = true;
        this.checkpoint.emptied();
        return;
      }
      this.checkpoint.dropFd();
      rotateFiles(this.file, this.keep, () => (moved = true));
      this.rotations++;
    } catch (err) {
      this.report(err as Error);
    }
    if (!moved) return;
    this.closeFile();
    try {
      this.fd = this.open();
    } catch (err) {
      // Keep what we can: a standard stream is not an option (stdout may carry MCP), so lines are dropped until reopen.
      this.report(err as Error);
    }
  }

  /**
   * Closes and reopens the file by name (after an external logrotate moved
   * it; wired to SIGHUP). Buffered lines go to the old file first. The hash
   * chain carries on in memory; the checkpoint now describes the new file
   * (the moved one keeps none).
   */
  reopen(): void {
    if (this.closed || this.file === '-') return;
    this.flush();
    const held = this.dirLock.take();
    try {
      this.forgetMovedCheckpoint();
      this.closeFile();
      this.fd = this.open();
    } catch (err) {
      this.report(err as Error);
    } finally {
      if (held) this.dirLock.release();
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.outage.stopRetrying();
    this.closeFile();
    this.dirLock.close();
  }
}
