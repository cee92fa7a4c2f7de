/**
 * Request bodies being read at once, in bytes, per client and in all. A body
 * is taken whole into memory before it is parsed, so each one held open costs
 * its size for as long as it takes to arrive (up to the body timeout): one
 * client with three hundred connections, each sending a body just under the
 * limit and holding back its last byte, held 1.2 GB in the server. Reserved
 * before a body is read (its declared length, or the limit for a chunked one)
 * and given back once it has been read or refused.
 */
export class BodyBudget {
  private readonly byClient = new Map<string, number>();
  private total = 0;

  /**
   * @param perClient bytes of bodies one client may have in reading at once
   * @param overall bytes of bodies all clients together may have in reading at once
   */
  constructor(
    readonly perClient: number,
    readonly overall: number,
  ) {}

  /** Reserves `bytes` for a body of `clientId`; false, reserving nothing, when the client or everyone together would pass the bound. */
  take(clientId: string, bytes: number): boolean {
    const held = this.byClient.get(clientId) ?? 0;
    if (held + bytes > this.perClient || this.total + bytes > this.overall) return false;
    this.byClient.set(clientId, held + bytes);
    this.total += bytes;
    return true;
  }

  /** Gives back what take() reserved. */
  give(clientId: string, bytes: number): void {
    const held = (this.byClient.get(clientId) ?? 0) - bytes;
    if (held > 0) this.byClient.set(clientId, held);
    else this.byClient.delete(clientId);
    this.total -= bytes;
  }
}
