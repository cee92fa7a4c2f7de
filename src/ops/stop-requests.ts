/**
 * Tells a second request to stop from the first one delivered twice.
 *
 * A terminal's Ctrl-C, or systemd's stop of a whole unit, signals every
 * process of the group, and a wrapper in that group (`npm exec`/`npx`,
 * `bun run`) passes the same signal on to its child: a server started that
 * way gets it twice within a few milliseconds. Taken as two, the second would
 * skip the drain a single stop asked for. A person who means "stop now" sends
 * it again later than that.
 */

/** A stop signal this soon after the first is the first one again. */
export const ECHO_WINDOW_MS = 500;

/** What a stop signal means, given those before it. */
export type StopRequest = 'first' | 'echo' | 'again';

export class StopRequests {
  private firstAt: number | null = null;

  constructor(private readonly now: () => number = () => performance.now()) {}

  take(): StopRequest {
    const at = this.now();
    if (this.firstAt === null) {
      this.firstAt = at;
      return 'first';
    }
    return at - this.firstAt < ECHO_WINDOW_MS ? 'echo' : 'again';
  }
}
