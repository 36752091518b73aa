/**
 * A private certificate authority and the certificates that TLS to Redis needs: one for the server
 * (its host names and addresses as subject alternative names) and one for clients, since Redis asks
 * clients for a certificate too (`tls-auth-clients yes`). ECDSA P-256, valid for `days`.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

export interface TlsMaterial {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

const algorithm = {
  name: 'ECDSA',
  namedCurve: 'P-256',
  hash: 'SHA-256',
} as const;
const DAY_MS = 86_400_000;

function serial(): string {
  // Positive 128-bit serial: the top bit cleared so that DER does not read it as negative.
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString('hex');
}

async function keyPem(keys: webcrypto.CryptoKeyPair): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

/**
 * Makes a CA and a server and a client certificate signed by it. `hosts` are the names and IP
 * addresses clients use to reach the server (at least one).
 *
 * @example
 * const tls = await makeTlsMaterial(['redis', 'localhost', '127.0.0.1']);
 */
export async function makeTlsMaterial(hosts: readonly string[], days = 825): Promise<TlsMaterial> {
  if (hosts.length === 0) throw new Error('makeTlsMaterial needs at least one host name or address');
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(Date.now() + days * DAY_MS);
  const caKeys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=tailspin-rsm private CA',
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  async function leaf(commonName: string, usage: string, names: readonly string[]): Promise<{ cert: string; key: string }> {
    const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ];
    if (names.length > 0) {
      extensions.push(
        new x509.SubjectAlternativeNameExtension(
          names.map((n) => ({
            type: isIP(n) === 0 ? ('dns' as const) : ('ip' as const),
            value: n,
          })),
        ),
      );
    }
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${commonName}`,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: algorithm,
      extensions,
    });
    return { cert: cert.toString('pem') + '\n', key: await keyPem(keys) };
  }

  const server = await leaf(hosts[0] ?? 'redis', x509.ExtendedKeyUsage.serverAuth, hosts);
  const client = await leaf('tailspin-rsm client', x509.ExtendedKeyUsage.clientAuth, []);
  return {
    caCert: ca.toString('pem') + '\n',
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
  };
}
