import { createCertificateAuthority, issueCertificate } from './certificates.js';

/** A throwaway CA and a server certificate it signed. */
export interface TestCertificates {
  /** PEM of the CA to trust. */
  ca: string;
  /** PEM of the server certificate. */
  cert: string;
  /** PEM (PKCS#8) of the server's private key. */
  key: string;
}

/** Options of {@link createTestCertificates}. */
export interface TestCertificatesOptions {
  /** Common name of the CA. Default `apiserver-token test CA`. */
  caName?: string;
  /** DNS subject alternative names. Default `['localhost']`. */
  dnsNames?: string[];
  /** IP subject alternative names. Default `['127.0.0.1', '::1']`. */
  ipAddresses?: string[];
}

/**
 * A new CA and a server certificate (ECDSA P-256) for your own HTTPS test servers, without
 * starting an apiserver: e.g. the webhook under test, or a second, untrusted server.
 */
export async function createTestCertificates(
  options: TestCertificatesOptions = {},
): Promise<TestCertificates> {
  const ca = await createCertificateAuthority(options.caName ?? 'apiserver-token test CA');
  const dnsNames = options.dnsNames ?? ['localhost'];
  return issueCertificate(ca, {
    commonName: dnsNames[0] ?? 'localhost',
    dnsNames,
    ipAddresses: options.ipAddresses ?? ['127.0.0.1', '::1'],
    usage: 'server',
  });
}
