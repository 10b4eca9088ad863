import type express from 'express';
import express5 from 'express';
import express4 from 'express4';

/** The same tests run on both majors. */
export const EXPRESS_VERSIONS: ReadonlyArray<readonly [string, typeof express]> = [
  ['express 5', express5],
  ['express 4', express4 as unknown as typeof express],
];

export { listen } from '../../../test/helpers/listen.js';
