// `koa2` is `npm:koa@2`, installed to run the same tests on Koa 2; its API (what the tests use) matches Koa 3's types.
declare module 'koa2' {
  import Koa = require('koa');
  export = Koa;
}
