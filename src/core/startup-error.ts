/**
 * A refusal to start (DESIGN.md, "Refusals at start-up"): the CLI prints its
 * message and exits 2. Its own module so the CLI can know it without loading
 * the server.
 */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}
