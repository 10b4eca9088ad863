import { ApiserverTokenConfigError } from '../errors.js';

/** A webhook's `clientConfig` as in a Validating/MutatingWebhookConfiguration: a URL, or a service reference. */
export type WebhookClientConfig =
  | { url: string; service?: undefined }
  | {
      service: {
        /** Service name. */
        name: string;
        /** Service namespace. */
        namespace: string;
        /** Service port. Default: `443`. */
        port?: number;
        /** URL path, starting with `/`. Default: `/`. */
        path?: string;
      };
      url?: undefined;
    };

const LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/**
 * The audience kube-apiserver gives a KEP-6060 webhook token for this webhook: the `url`
 * verbatim (no normalisation), or `https://<name>.<namespace>.svc:<port><path>` for a service
 * reference (port 443 and path `/` by default, so `https://svc.ns.svc:443/`). A helper for the
 * `audience` option only: the derivation is still being revised upstream (alpha), so the
 * audience stays configurable. Never derive it from a request's `Host` header.
 *
 * @example
 * createVerifier({ audience: webhookAudience({ service: { name: 'my-webhook', namespace: 'my-ns', path: '/validate' } }), … })
 * // audience 'https://my-webhook.my-ns.svc:443/validate'
 * @throws ApiserverTokenConfigError (field `audience`) for an invalid reference.
 */
export function webhookAudience(config: WebhookClientConfig): string {
  const fail = (problem: string): never => {
    throw new ApiserverTokenConfigError('audience', `webhookAudience(): ${problem}`);
  };
  if (typeof config !== 'object' || config === null) return fail('expected { url } or { service }');
  if (config.url !== undefined) {
    if (config.service !== undefined) fail('give either url or service, not both');
    if (
      typeof config.url !== 'string' ||
      !URL.canParse(config.url) ||
      new URL(config.url).protocol !== 'https:'
    )
      fail(`url must be an https URL, got ${JSON.stringify(config.url)}`);
    return config.url;
  }
  const service = config.service;
  if (typeof service !== 'object' || service === null) return fail('expected { url } or { service }');
  const { name, namespace, port = 443, path = '/' } = service;
  if (typeof name !== 'string' || !LABEL.test(name))
    fail(`service.name must be a DNS label, got ${JSON.stringify(name)}`);
  if (typeof namespace !== 'string' || !LABEL.test(namespace))
    fail(`service.namespace must be a DNS label, got ${JSON.stringify(namespace)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    fail(`service.port must be an integer from 1 to 65535, got ${JSON.stringify(port)}`);
  if (typeof path !== 'string' || !path.startsWith('/') || /[\s?#]/.test(path))
    fail(
      `service.path must start with "/" and hold no spaces, query or fragment, got ${JSON.stringify(path)}`,
    );
  return `https://${name}.${namespace}.svc:${port}${path}`;
}
