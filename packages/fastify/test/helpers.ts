import fastify5 from 'fastify';
import fastify4 from 'fastify4';

/** The same tests run on both majors. */
export const FASTIFY_VERSIONS: ReadonlyArray<readonly [string, typeof fastify5]> = [
  ['fastify 5', fastify5],
  ['fastify 4', fastify4 as unknown as typeof fastify5],
];
