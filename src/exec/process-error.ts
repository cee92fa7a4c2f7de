/** A refusal an agent can act on (not found, bad env, exited): becomes an isError result. */
export class ProcessError extends Error {}
