/** Stops the whole run: a verifier accepted a forgery, or a scenario cannot be measured honestly. */
export class AbortRun extends Error {}
