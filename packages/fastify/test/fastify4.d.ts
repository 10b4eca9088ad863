// `fastify4` is `npm:fastify@4`, installed to run the same tests on Fastify 4; its API (what the tests use) matches Fastify 5's types.
declare module 'fastify4' {
  import fastify = require('fastify');
  export = fastify;
}
