// `express4` is `npm:express@4`, installed to run the same tests on Express 4; its API (what the tests use) matches Express 5's types.
declare module 'express4' {
  import express = require('express');
  export = express;
}
