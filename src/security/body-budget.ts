/**
 * Request bodies being read at once, in bytes, per client and in all. A body
 * is taken whole into memory before it is parsed, so each one held open costs
 * its size for as long as it takes to arrive (up to the body timeout): one
 * client with three hundred connections, each sending a body just under the
 * limit and holding back its last byte, held 1.2 GB in the server. Reserved
 * before a body is read (its declared length, or the limit for a chunked one)
 * and given back once it has been read or refused. A small body counts only
 * against its client's share: reserved before any byte comes, large ones
 * from a few clients (eight connections each, sending nothing) would
 * otherwise leave everyone else no room even for a ping.
 */
export class BodyBudget {
  private readonly byClient = new Map<string, number>();
  private total = 0;

  /**
   * @param perClient bytes of bodies one client may have in reading at once
   * @param overall bytes of larger bodies all clients together may have in reading at once
   * @param small the largest body that counts against its client's share alone
   */
  constructor(
    readonly perClient: number,
    readonly overall: number,
    readonly small: number,
  ) {}

  /** Reserves `bytes` for a body of `clientId`; false, reserving nothing, when the client or everyone together would pass the bound. */
  take(clientId: string, bytes: number): boolean {
    const held = this.byClient.get(clientId) ?? 0;
    const large = bytes > this.small;
    if (held + bytes > this.perClient || (large && this.total + bytes > this.overall)) return false;
    this.byClient.set(clientId, held + bytes);
    if (large) this.total += bytes;
    return true;
  }

  /** Gives back what take() reserved. */
  give(clientId: string, bytes: number): void {
    const held = (this.byClient.get(clientId) ?? 0) - bytes;
    if (held > 0) this.byClient.set(clientId, held);
    else this.byClient.delete(clientId);
    if (bytes > this.small) this.total -= bytes;
  }
}
