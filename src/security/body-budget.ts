/**
 * Request bodies being read at once, in bytes, per source and in all. A body
 * is taken whole into memory before it is parsed, so each one held open costs
 * its size for as long as it takes to arrive (up to the body timeout): one
 * client with three hundred connections, each sending a body just under the
 * limit and holding back its last byte, held 1.2 GB in the server. A body with
 * a declared length reserves it before it is read (the runtime frames the body
 * by it, so it holds no more); a chunked one reserves its bytes as they come,
 * so connections that declare nothing and send nothing hold no room. Small
 * declared bodies have a room of their own beside the one all others share:
 * reserved before a byte comes, large ones from a few clients (eight
 * connections each, sending nothing) would otherwise leave everyone else no
 * room even for a ping.
 */
import { addressSource } from '../util/ip-rules.ts';
import { isLoopback } from './ip.ts';

/** Which shared room a reservation comes from: small declared bodies', or everything else's. */
export type BodyRoom = 'small' | 'large';

export class BodyBudget {
  private readonly bySource = new Map<string, number>();
  private readonly used: Record<BodyRoom, number> = { small: 0, large: 0 };

  /**
   * @param perSource bytes of bodies one source may have in reading at once
   * @param rooms bytes of bodies all sources together may have in reading at once, in each room
   */
  constructor(
    readonly perSource: number,
    readonly rooms: Readonly<Record<BodyRoom, number>>,
  ) {}

  /** Reserves `bytes` in `room` for a body of `source`; false, reserving nothing, when the source or the room would pass its bound. */
  take(source: string, bytes: number, room: BodyRoom): boolean {
    const held = this.bySource.get(source) ?? 0;
    if (held + bytes > this.perSource || this.used[room] + bytes > this.rooms[room]) return false;
    this.bySource.set(source, held + bytes);
    this.used[room] += bytes;
    return true;
  }

  /** Gives back what take() reserved. */
  give(source: string, bytes: number, room: BodyRoom): void {
    const held = (this.bySource.get(source) ?? 0) - bytes;
    if (held > 0) this.bySource.set(source, held);
    else this.bySource.delete(source);
    this.used[room] -= bytes;
  }
}

/**
 * Whose share a caller's bodies and calls count against: a caller signed in
 * (API key or token) is its client id; one that is not (authentication off,
 * when no caller signs in) is its address's source (anonymousSource). The
 * address is asked for only then: the socket's peer costs a system call,
 * which a signed-in request does not pay.
 */
export function callerSource(caller: { clientId: string; apiKeyHash: string | null; oauth?: unknown }, clientIp: () => string): string {
  return caller.apiKeyHash !== null || caller.oauth !== undefined ? caller.clientId : anonymousSource(clientIp());
}

/**
 * The source a caller who does not sign in counts as, for every per-client
 * bound: its address, an IPv6 one's /64, and every loopback address as one
 * (a local process may take any of 127.0.0.0/8, and each was a client of its
 * own: 64 of them, three calls each, held 4 MB bodies worth 430 MB; 48 of
 * them with 256 small bodies each, 905 MB).
 */
export function anonymousSource(clientIp: string): string {
  return isLoopback(clientIp) ? 'loopback' : addressSource(clientIp);
}
