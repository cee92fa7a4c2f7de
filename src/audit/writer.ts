/**
 * The audit log writer: one redacted JSON object per line, fields in a fixed
 * order, timestamp first. Lines are collected in memory and written with one
 * append per tick, which keeps throughput high and keeps each line whole:
 * the file is opened O_APPEND and every write holds complete lines only.
 * A failing disk is reported once per outage (and its end, with the lines
 * lost), and never takes the server down. With `retryMs` the writer also
 * tries the disk again on its own while failing, so an owner that refuses
 * work meanwhile (HIDE_AUDIT_ON_ERROR=refuse: no calls, so no lines to write)
 * still learns that the log is writable again; the line that proves it is an
 * `audit_recovered` line naming the lines lost.
 *
 * For forensics (src/ops/audit-chain.ts) lines can carry a hash chain that
 * continues across restarts and rotations, with the first line of each file
 * marked and a checkpoint (`<file>.head`) rewritten after every batch; the
 * file can rotate by size (name → name.1 → … → name.<keep>, checkpoints
 * alongside) and be reopened after an external logrotate moved it (SIGHUP).
 *
 * Every value is redacted and bounded: no string over 4 KiB, no line over
 * 64 KiB, whatever a client sends.
 *
 * Several servers may share one log (two `hide stdio` sessions under the
 * same default path): each batch is sealed, appended and rotated holding
 * flock(2) on the log's directory (the file itself changes inode when it
 * rotates), after catching up with what the others appended or rotated, so
 * the lines of all of them form one chain and one set of checkpoints.
 */
import { dirname } from 'node:path';
import { closeSync, constants as fsConstants, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { tryLock, unlock } from '../util/dir-lock.ts';
import { libc } from '../util/libc.ts';
import { type Checkpoint, checkpointPath, encodeCheckpoint, hashOf, lastLine, readCheckpoint, resumeHash, scanFile, sealRecord } from './chain.ts';
import type { AuditEvent, AuditSink } from './event.ts';
import type { Budget, Redactor } from './redact.ts';

/** No audit line is longer than this (bytes, newline included). */
export const MAX_LINE_BYTES = 64 * 1024;
// Characters the values of one line may hold at first; the rest of the room
// is for names, quotes, escaping and the chain fields. A line that still
// comes out too long (escapes, multi-byte text) is rebuilt with less.
const LINE_BUDGET = 48 * 1024;
/**
 * How long a batch waits for another writer's lock before it writes anyway:
 * a batch holds it for well under a millisecond, and a process that keeps it
 * (anything that can open the directory can flock it) must not stop the server.
 */
const LOCK_WAIT_MS = 1000;
/** How often a batch waiting for the lock tries again (on a timer: the event loop runs meanwhile). */
const LOCK_RETRY_MS = 2;

interface Line {
  text: string;
  bytes: number;
  hash: string | null;
  /** The hash the line was sealed after (its prev_hash); null when the chain is off. */
  prev: string | null;
  /** The retry's own `audit_recovered` line: not counted as a line lost when it cannot be written. */
  probe?: boolean;
}

/** A queued event; `probe` marks the retry's `audit_recovered` line, built when the batch is sealed. */
interface Queued {
  at: number;
  event: AuditEvent;
  probe?: boolean;
}

export interface AuditWriterOptions {
  /** Path of the JSON Lines file, or "-" for stdout. */
  file: string;
  redactor: Redactor;
  /** Called on the first failed write of an outage; later failures are only counted until a write succeeds again. */
  onError?: (err: Error) => void;
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

function libcLoads(): boolean {
  try {
    libc();
    return true;
  } catch {
    return false;
  }
}

/** Closes `fd` if open, ignoring a descriptor already gone; null, for the field that held it. */
function closeQuietly(fd: number | null): null {
  if (fd === null) return null;
  try {
    closeSync(fd);
  } catch {
    /* already gone */
  }
  return null;
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
  private readonly onRecover: (dropped: number) => void;
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
  /** What the checkpoint says about the file on disk; null when the chain is off or the log is stdout. */
  private checkpoint: Checkpoint | null = null;
  private pending: Queued[] = [];
  private scheduled = false;
  private failed = false;
  /** linesDropped when the current outage began. */
  private droppedBefore = 0;
  /** When the current outage began (the `audit_recovered` line names it). */
  private failedSince = 0;
  private readonly retryMs: number;
  /** Tries the disk again while failing (retryMs); null when not failing or not asked for. */
  private retryTimer: ReturnType<typeof setInterval> | null = null;
  private closed = false;
  /**
   * The log's directory, held open to flock(2) it while a batch is sealed,
   * appended and rotated; null without libc (not Linux), or for stdout.
   */
  private lockFd: number | null = null;
  /** A batch went out without the lock and nothing has taken it since: said once, not per batch. */
  private lockTrouble = false;

  /** Opens (creating with mode 0600) the file; throws if it cannot, so start-up can refuse. */
  constructor(opts: AuditWriterOptions) {
    this.file = opts.file;
    this.redactor = opts.redactor;
    this.onError = opts.onError ?? (() => {});
    this.onRecover = opts.onRecover ?? (() => {});
    this.maxBytes = opts.file === '-' ? 0 : (opts.maxBytes ?? 0);
    this.keep = Math.max(1, opts.keep ?? 5);
    this.retryMs = opts.retryMs ?? 0;
    // The chain continues from the last line on disk: the current file, or the newest rotated one.
    this.lastHash = opts.chain ? (opts.file === '-' ? resumeHash([]) : resumeHash([opts.file, `${opts.file}.1`])) : null;
    this.startsFile = opts.file === '-';
    if (opts.file === '-') {
      this.fd = null;
      return;
    }
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    this.lockFd = this.openLock();
    const held = this.lock();
    try {
      this.fd = this.open(true);
    } catch (err) {
      this.closeLock();
      throw err;
    } finally {
      if (held) this.release();
    }
  }

  /** True from a failed write (or rotation, or checkpoint) until a write succeeds again. */
  get failing(): boolean {
    return this.failed;
  }

  /**
   * Opens the file by name and learns where it stands (the caller holds the lock).
   * @param starting the server is starting: check the file against the checkpoint the last run left.
   */
  private open(starting = false): number {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const fd = openSync(this.file, 'a', 0o600);
    this.catchUp(fd, starting);
    return fd;
  }

  /**
   * Reads the file's end as it is now: size, a torn last line, the hash the
   * next line chains to (another writer's last line, when it wrote after us)
   * and the checkpoint.
   */
  private catchUp(fd: number, starting: boolean): void {
    this.size = fstatSync(fd).size;
    const last = this.size > 0 ? lastLine(this.file) : null;
    this.needsNewline = last !== null && !last.endsWithNewline;
    this.startsFile = this.size === 0;
    if (this.lastHash === null) return;
    // An empty file keeps the hash in memory: it continues the file rotated (or moved) before it. A write cut short
    // just before its newline left a whole record: the chain goes on from it, or it would read as an inserted line.
    this.lastHash = hashOf(last?.partial ?? null) ?? hashOf(last?.line ?? null) ?? this.lastHash;
    this.takeCheckpoint(last?.line ?? null, starting);
  }

  private openLock(): number | null {
    if (!libcLoads()) return null;
    try {
      return openSync(dirname(this.file), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    } catch (err) {
      this.warn(new Error(`cannot open the directory of ${this.file} to lock it (${(err as Error).message}); another server writing the file would fork its chain`));
      return null;
    }
  }

  /** One try at the lock: 'held', 'busy' (another holder, or a failure worth retrying) or 'none' (nothing to lock). */
  private tryTake(): 'held' | 'busy' | 'none' {
    if (this.lockFd === null) return 'none';
    try {
      if (!tryLock(this.lockFd)) return 'busy';
    } catch (err) {
      // errno is read after the call and the runtime may have set it meanwhile: a failure is retried like a wait.
      this.lockFailure = err;
      return 'busy';
    }
    this.lockTrouble = false;
    this.lockFailure = null;
    return 'held';
  }

  private lockFailure: unknown = null;

  /**
   * Takes the lock, waiting a bounded time for another writer's batch with the
   * event loop stopped; false when it is not held. Only for start, reopen,
   * close and exit: a tick's batch waits on a timer (flushWhenLocked).
   */
  private lock(): boolean {
    const giveUpAt = performance.now() + LOCK_WAIT_MS;
    for (;;) {
      const got = this.tryTake();
      if (got !== 'busy') return got === 'held';
      if (performance.now() > giveUpAt) break;
      Bun.sleepSync(1);
    }
    this.givenUp();
    return false;
  }

  /** A batch goes out without the lock: warned once until the lock is taken again. */
  private givenUp(): void {
    if (this.lockTrouble) return;
    this.lockTrouble = true;
    const failure = this.lockFailure;
    const why = failure === null ? `stayed locked by another process for ${LOCK_WAIT_MS} ms` : `cannot be locked (${(failure as Error).message})`;
    this.warn(new Error(`the directory of ${this.file} ${why}; writing without the lock until it can be taken again`));
  }

  private release(): void {
    if (this.lockFd === null) return;
    try {
      unlock(this.lockFd);
    } catch {
      /* closing the directory releases it in the end */
    }
  }

  private closeLock(): void {
    this.lockFd = closeQuietly(this.lockFd);
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
      if (named !== null && (named.ino !== now.ino || named.dev !== now.dev)) {
        this.closeFile();
        this.fd = this.open();
        return;
      }
      if (now.size !== this.size) this.catchUp(this.fd, false);
    } catch (err) {
      this.report(err as Error);
    }
  }

  /** Closes the log and its checkpoint. */
  private closeFile(): void {
    this.dropCheckpointFd();
    this.fd = closeQuietly(this.fd);
  }

  /**
   * Learns the file's line count and end hashes (from the old checkpoint when
   * it still describes the file, else by reading the file) and writes the
   * checkpoint. On start, a file that lost lines the old checkpoint recorded
   * (cut while the server was down) is reported before the evidence is replaced.
   */
  private takeCheckpoint(lastText: string | null, starting: boolean): void {
    const old = readCheckpoint(this.file);
    const lastHash = hashOf(lastText);
    let cp: Checkpoint;
    if (this.size === 0) cp = { lines: 0, first_hash: null, last_hash: null, bytes: 0 };
    else if (old !== null && old !== 'unreadable' && old.bytes === this.size && old.last_hash === lastHash) cp = { ...old };
    else {
      const scan = scanFile(this.file, true);
      cp = { lines: scan.lines, first_hash: hashOf(scan.first), last_hash: lastHash, bytes: this.size };
    }
    if (starting && old !== null && old !== 'unreadable' && (this.size < old.bytes || (this.size === old.bytes && old.last_hash !== lastHash))) {
      this.warn(
        new Error(
          `${this.file} no longer matches its checkpoint (${old.lines} lines, ${old.bytes} bytes, last hash ${old.last_hash?.slice(0, 12) ?? 'none'}; ` +
            `now ${cp.lines} lines, ${this.size} bytes): lines were cut while the server was down`,
        ),
      );
    }
    this.checkpoint = cp;
    this.saveCheckpoint();
  }

  /** The open checkpoint file of the live log: rewritten in place after every batch. */
  private checkpointFd: number | null = null;

  /**
   * Rewrites the checkpoint in place with one positioned write of a
   * fixed-size record: a rename per batch cost ~80 µs on the event loop, a
   * pwrite well under 1 µs. A write torn by a crash shows as an unreadable
   * checkpoint, which verify reports.
   */
  private saveCheckpoint(): void {
    if (this.checkpoint === null) return;
    try {
      this.checkpointFd ??= openSync(checkpointPath(this.file), 'w', 0o600);
      const record = encodeCheckpoint(this.checkpoint);
      writeSync(this.checkpointFd, record, 0, record.length, 0);
    } catch (err) {
      this.report(err as Error);
    }
  }

  /** Before the checkpoint file is moved or the log reopened: the next save opens it by name again. */
  private dropCheckpointFd(): void {
    this.checkpointFd = closeQuietly(this.checkpointFd);
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
      setImmediate(() => this.flushWhenLocked(performance.now()));
    }
  }

  /**
   * A tick's batch. Another holder of the lock (a second server's batch, or
   * any process that can open the directory and keeps it locked — a command
   * in a workspace that holds the log) is waited for on a timer, so the event
   * loop and every other client's call go on meanwhile; after LOCK_WAIT_MS
   * the batch is written without it.
   */
  private flushWhenLocked(since: number): void {
    if (this.pending.length === 0 || this.closed) {
      this.scheduled = false;
      return;
    }
    const got = this.tryTake();
    if (got === 'busy' && performance.now() - since < LOCK_WAIT_MS) {
      setTimeout(() => this.flushWhenLocked(since), LOCK_RETRY_MS);
      return;
    }
    this.scheduled = false;
    if (got === 'busy') this.givenUp();
    this.writeBatch(got === 'held');
  }

  /** The event's fields, redacted and bounded by a budget shared by all of them; fixed order. */
  private fieldsFor(at: number, event: AuditEvent, budget: number): Record<string, unknown> {
    const r = this.redactor;
    const b: Budget = { left: budget };
    const text = (s: string | null) => (s === null ? null : (r.redact(s, b) as string));
    // Small fields first, so a huge argument list cannot crowd out who, what and the outcome.
    const envelope = {
      correlation_id: text(event.correlation_id),
      client_id: text(event.client_id),
      client_ip: text(event.client_ip),
      api_key_hash: text(event.api_key_hash),
      user: text(event.user),
      tool_name: text(event.tool_name),
    };
    const error = text(event.error);
    const result = r.redact(event.result, b) ?? null;
    const args = r.redact(event.arguments, b) ?? null;
    // Built field by field so the order on disk is fixed and nothing unknown slips in.
    const oauth = event.oauth ? { oauth: r.redact({ ...event.oauth, scopes: [...event.oauth.scopes] }, b) } : {};
    return { timestamp: new Date(at).toISOString(), event_type: event.event_type, ...envelope, ...oauth, arguments: args, result, error };
  }

  /**
   * The line for one event, sealed when the chain is on (not yet committed:
   * lastHash moves when the line is queued). Over MAX_LINE_BYTES, the values
   * are cut further until it fits.
   */
  private lineFor(at: number, event: AuditEvent, startsFile: boolean): Line {
    let budget = LINE_BUDGET;
    for (let attempt = 0; ; attempt++) {
      let fields = this.fieldsFor(at, event, budget);
      if (attempt === 4) fields = { ...fields, arguments: '[dropped: too large]', result: '[dropped: too large]' };
      const sealed = this.lastHash === null ? { line: JSON.stringify(fields), hash: null } : sealRecord(fields, this.lastHash, startsFile);
      const text = `${sealed.line}\n`;
      const bytes = Buffer.byteLength(text);
      if (bytes <= MAX_LINE_BYTES || attempt === 4) return { text, bytes, hash: sealed.hash, prev: this.lastHash };
      budget = Math.floor((budget * MAX_LINE_BYTES * 0.8) / bytes);
    }
  }

  /** Writes everything queued, synchronously; safe to call from exit handlers. */
  flush(): void {
    if (this.pending.length === 0) return;
    this.writeBatch(this.lock());
  }

  private writeBatch(held: boolean): void {
    try {
      this.sync();
      this.sealAndWrite();
    } finally {
      if (held) this.release();
    }
  }

  private sealAndWrite(): void {
    const queued = this.pending;
    this.pending = [];
    // While failing, every batch leads with the line that records the outage, so the first line the disk takes
    // again says what was lost, whichever write gets through first (the retry's, or a call's).
    if (this.failed && this.retryMs > 0 && !queued.some((q) => q.probe)) queued.unshift(this.probeItem());
    let batch: Line[] = [];
    let batchBytes = 0;
    let startsFile = this.startsFile;
    for (const q of queued) {
      let line: Line;
      if (q.probe) q.event = this.recoveredEvent();
      try {
        line = this.lineFor(q.at, q.event, startsFile);
        line.probe = q.probe;
        // Rotate on a line boundary, before the line that would take the file past the limit.
        if (this.maxBytes > 0 && this.size + batchBytes + line.bytes > this.maxBytes && this.size + batchBytes > 0) {
          this.writeLines(batch);
          batch = [];
          batchBytes = 0;
          this.rotate();
          startsFile = this.startsFile;
          // Sealed again when it starts the new file, or when the lines before it were lost and the chain stepped back.
          if (startsFile || line.prev !== this.lastHash) line = { ...this.lineFor(q.at, q.event, startsFile), probe: q.probe };
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
        process.stdout.write(data);
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
      if (this.retryMs > 0) this.stepBack(lines, left ? off - (torn ? 1 : 0) : 0);
      return;
    }
    if (this.failed) {
      this.failed = false;
      this.recovered();
    }
    const cp = this.checkpoint;
    if (cp === null) return;
    // The torn line the newline completed counts as a line of the file too.
    cp.lines += lines.length + (torn ? 1 : 0);
    cp.first_hash ??= lines[0]!.hash;
    cp.last_hash = lines.at(-1)!.hash;
    cp.bytes = this.size;
    this.saveCheckpoint();
  }

  /**
   * After a failed write, while retrying (the `audit_recovered` line will say
   * how many were lost): the chain goes on from the last line on disk, not
   * from lines that never reached it, so the outage leaves no gap that verify
   * would stop at as a deletion, and the recovered line, chained like any
   * other, is the record of the loss. `kept` bytes of these lines stayed on
   * disk (a full disk took what fit and it could not be taken back): the
   * whole lines among them stay in the chain, a torn one after them does not.
   */
  private stepBack(lines: Line[], kept: number): void {
    if (this.lastHash === null) return;
    let hash = lines[0]!.prev;
    let bytes = 0;
    for (const l of lines) {
      bytes += l.bytes;
      if (bytes > kept) break;
      hash = l.hash;
    }
    this.lastHash = hash;
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

  /** Starts an outage (before its first lost lines are counted). */
  private report(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.droppedBefore = this.linesDropped;
    this.failedSince = Date.now();
    this.warn(err);
    if (this.retryMs > 0 && !this.closed && this.retryTimer === null) {
      this.retryTimer = setInterval(() => this.retry(), this.retryMs);
      // An outage must not keep a server that is otherwise done alive.
      this.retryTimer.unref();
    }
  }

  /** One try at the disk while failing: the `audit_recovered` line, queued like any line. */
  private retry(): void {
    if (!this.failed || this.closed) {
      this.stopRetrying();
      return;
    }
    if (this.pending.some((q) => q.probe)) return;
    this.pending.push(this.probeItem());
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushWhenLocked(performance.now()));
    }
  }

  private stopRetrying(): void {
    if (this.retryTimer !== null) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  private probeItem(): Queued {
    return { at: Date.now(), event: this.recoveredEvent(), probe: true };
  }

  /** What the outage cost, as far as this writer knows when the line is sealed. */
  private recoveredEvent(): AuditEvent {
    return {
      event_type: 'audit_recovered',
      correlation_id: null,
      client_id: null,
      client_ip: null,
      api_key_hash: null,
      user: null,
      tool_name: null,
      arguments: null,
      result: { linesLost: this.linesDropped - this.droppedBefore, failingSince: new Date(this.failedSince).toISOString() },
      error: null,
    };
  }

  private recovered(): void {
    this.stopRetrying();
    try {
      this.onRecover(this.linesDropped - this.droppedBefore);
    } catch {
      // As for onError.
    }
  }

  /** Tells the owner without counting as a write failure (which is reported only once). */
  private warn(err: Error): void {
    try {
      this.onError(err);
    } catch {
      // The reporter failing too must still not crash the server.
    }
  }

  /** name.<keep> is dropped, each name.i moves to name.<i+1>, the live file to name.1. */
  private rotate(): void {
    if (this.fd === null) return;
    let moved = false;
    try {
      // Someone else (copytruncate) may have emptied the file: then there is nothing to rotate.
      if (fstatSync(this.fd).size === 0) {
        this.size = 0;
        this.startsFile = true;
        if (this.checkpoint !== null) {
          this.checkpoint = { lines: 0, first_hash: null, last_hash: null, bytes: 0 };
          this.saveCheckpoint();
        }
        return;
      }
      this.dropCheckpointFd();
      // Each file moves with its checkpoint, so a rotated file can still be checked for a cut tail.
      const names = rotatedNames(this.file, this.keep);
      rmSync(names.at(-1)!, { force: true });
      rmSync(checkpointPath(names.at(-1)!), { force: true });
      for (let i = names.length - 2; i >= 0; i--) {
        if (existsSync(names[i]!)) renameSync(names[i]!, names[i + 1]!);
        if (existsSync(checkpointPath(names[i]!))) renameSync(checkpointPath(names[i]!), checkpointPath(names[i + 1]!));
      }
      renameSync(this.file, names[0]!);
      moved = true;
      if (existsSync(checkpointPath(this.file))) renameSync(checkpointPath(this.file), checkpointPath(names[0]!));
      this.rotations++;
    } catch (err) {
      this.report(err as Error);
    }
    if (!moved) return;
    this.closeFile();
    try {
      this.fd = this.open();
    } catch (err) {
      // Keep what we can: stdout is not an option (it may carry MCP), so lines are dropped until reopen.
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
    const held = this.lock();
    try {
      this.closeFile();
      this.fd = this.open();
    } catch (err) {
      this.report(err as Error);
    } finally {
      if (held) this.release();
    }
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.stopRetrying();
    this.closeFile();
    this.closeLock();
  }
}

/** The sink used when auditing is disabled. */
export class NullAudit implements AuditSink {
  readonly linesWritten = 0;
  write(_event: AuditEvent): void {}
  flush(): void {}
  close(): void {}
}
