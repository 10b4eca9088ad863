import { type WebhookClientConfig, webhookAudience } from '@apiserver-token/core';
import { parseAllDocuments } from 'yaml';

const KINDS = new Set(['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration']);

/** One webhook of a Validating/MutatingWebhookConfiguration and what the apiserver uses for it. */
export interface WebhookAudienceRow {
  kind: 'ValidatingWebhookConfiguration' | 'MutatingWebhookConfiguration';
  /** `metadata.name` of the configuration. */
  configuration: string;
  /** `webhooks[].name`. */
  webhook: string;
  /** The KEP-6060 audience (`webhookAudience` of @apiserver-token/core), when the clientConfig is valid. */
  audience?: string;
  /** The `users[].name` of kube-apiserver's admission kubeconfig that matches this webhook. */
  kubeconfigUser?: string;
  /** Why no audience could be derived. */
  error?: string;
}

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;

/**
 * The admission kubeconfig user kube-apiserver looks up for a webhook: `<svc>.<ns>.svc`, with
 * `:<port>` unless 443, for a service reference; `host[:port]` of the URL otherwise (`URL.host`
 * already omits https' default port).
 */
export function kubeconfigUser(config: WebhookClientConfig): string {
  if (config.url !== undefined) return new URL(config.url).host;
  const { name, namespace, port = 443 } = config.service;
  return `${name}.${namespace}.svc${port === 443 ? '' : `:${port}`}`;
}

function clientConfigOf(value: unknown): WebhookClientConfig {
  const config = record(value) ?? {};
  const service = record(config.service);
  if (service) {
    return {
      service: {
        name: service.name as string,
        namespace: service.namespace as string,
        ...(service.port !== undefined ? { port: service.port as number } : {}),
        ...(service.path !== undefined ? { path: service.path as string } : {}),
      },
      ...(config.url !== undefined ? { url: config.url } : {}),
    } as WebhookClientConfig;
  }
  return { url: config.url as string };
}

function rowsOf(object: Record<string, unknown>): WebhookAudienceRow[] {
  const kind = object.kind as WebhookAudienceRow['kind'];
  const configuration = String(record(object.metadata)?.name ?? '(unnamed)');
  const webhooks = Array.isArray(object.webhooks) ? object.webhooks : [];
  return webhooks.map((entry, index) => {
    const webhook = record(entry) ?? {};
    const row: WebhookAudienceRow = { kind, configuration, webhook: String(webhook.name ?? `#${index}`) };
    try {
      const config = clientConfigOf(webhook.clientConfig);
      row.audience = webhookAudience(config);
      row.kubeconfigUser = kubeconfigUser(config);
    } catch (error) {
      row.error = `clientConfig: ${(error as Error).message.replace(/^.*webhookAudience\(\): /, '')}`;
    }
    return row;
  });
}

/**
 * Every webhook of every Validating/MutatingWebhookConfiguration in a YAML or JSON text (several
 * documents, `kind: List` and `*List` wrappers included). Other kinds are skipped.
 * @throws Error when the text is not YAML/JSON.
 */
export function webhookAudiences(text: string, source: string): WebhookAudienceRow[] {
  const rows: WebhookAudienceRow[] = [];
  const visit = (value: unknown) => {
    const object = record(value);
    if (!object) return;
    if (typeof object.kind === 'string' && KINDS.has(object.kind)) rows.push(...rowsOf(object));
    else if (Array.isArray(object.items)) for (const item of object.items) visit(item);
  };
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0) {
      throw new Error(`${source}: not YAML or JSON: ${document.errors[0]!.message.split('\n')[0]}`);
    }
    visit(document.toJS());
  }
  return rows;
}
