import { ApiserverTokenConfigError } from '../errors.js';

/**
 * Fails unless an adapter was given an options object (or nothing, which reads the environment):
 * checked before the adapter takes its own options out, so that `null` is a configuration error
 * naming `options`, not a `TypeError`.
 *
 * @throws ApiserverTokenConfigError naming `options`.
 */
export function assertAdapterOptions(options: unknown): asserts options is object {
  if (typeof options !== 'object' || options === null) {
    throw new ApiserverTokenConfigError(
      'options',
      'expected an options object, or nothing to read the environment',
    );
  }
}

/**
 * Fails unless `value` is one of `choices`: for an adapter's own enumerated options (Express and
 * Koa `errors`, Fastify `hook`), which plain JavaScript callers may misspell.
 *
 * @throws ApiserverTokenConfigError naming `field` and the accepted values.
 */
export function assertOneOf<const Choice extends string>(
  field: string,
  value: unknown,
  choices: readonly Choice[],
): asserts value is Choice {
  if (!(choices as readonly unknown[]).includes(value)) {
    const expected = choices.map((choice) => `'${choice}'`).join(' or ');
    throw new ApiserverTokenConfigError(field, `expected ${expected}, got ${JSON.stringify(String(value))}`);
  }
}
