import type { WebhookServiceRef } from './types.js';

/**
 * The audience kube-apiserver puts in a webhook token (KEP-6060): the webhook's URL verbatim, or for
 * a service reference `https://<name>.<namespace>.svc:<port><path>` (port 443, path `/` by default).
 *
 * @example webhookAudience({ namespace: 'my-ns', name: 'my-webhook', path: '/validate' })
 * // 'https://my-webhook.my-ns.svc:443/validate'
 */
export function webhookAudience(target: string | WebhookServiceRef): string {
  if (typeof target === 'string') return target;
  const path = target.path ?? '/';
  return `https://${target.name}.${target.namespace}.svc:${target.port ?? 443}${path.startsWith('/') ? path : `/${path}`}`;
}
