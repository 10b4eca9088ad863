/** A kubeconfig (YAML; scalars written as JSON strings, which YAML reads verbatim). */
export function renderKubeconfig(input: {
  server: string;
  caPem: string;
  clusterName: string;
  userName: string;
  token?: string;
  clientCertificate?: { cert: string; key: string };
}): string {
  const q = JSON.stringify;
  const b64 = (text: string) => Buffer.from(text).toString('base64');
  const user: string[] = [];
  if (input.token !== undefined) user.push(`    token: ${q(input.token)}`);
  if (input.clientCertificate) {
    user.push(`    client-certificate-data: ${q(b64(input.clientCertificate.cert))}`);
    user.push(`    client-key-data: ${q(b64(input.clientCertificate.key))}`);
  }
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${q(input.clusterName)}`,
    '  cluster:',
    `    server: ${q(input.server)}`,
    `    certificate-authority-data: ${q(b64(input.caPem))}`,
    'users:',
    `- name: ${q(input.userName)}`,
    '  user:',
    ...(user.length > 0 ? user : ['    {}']),
    'contexts:',
    `- name: ${q(input.clusterName)}`,
    '  context:',
    `    cluster: ${q(input.clusterName)}`,
    `    user: ${q(input.userName)}`,
    `current-context: ${q(input.clusterName)}`,
    '',
  ].join('\n');
}
