/**
 * Baseline: the smallest compiled Bun.serve server, for start-up time. Built
 * with `bun build --compile` into bench/.work and started with `--port P`.
 */
const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;
Bun.serve({ hostname: '127.0.0.1', port, fetch: () => new Response('ok') });
