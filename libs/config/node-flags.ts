/**
 * V8 flags the API and the worker run with (docs/adr/0014). A 64 MB semi-space lets the
 * short-lived objects of a batch (parsed jobs, COPY text, per-unit deltas) die young: the
 * worker spent 11 % of its time in the scavenger with the default 16 MB, and wrote about
 * 15 % more events per second with this. The Dockerfile and the npm start scripts repeat it.
 */
export const NODE_FLAGS = ['--max-semi-space-size=64'];
