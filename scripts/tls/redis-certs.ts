/**
 * `node dist/scripts/tls/redis-certs.js <dir> [host...]`: writes a private CA and Redis's server and
 * client certificates to <dir> (ca.crt, redis.crt, redis.key, client.crt, client.key), unless ca.crt
 * is already there. The compose stack runs it once in a volume before Redis starts; hosts default
 * to `redis localhost 127.0.0.1`.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTlsMaterial } from './certificates.js';

const [dir, ...hostArgs] = process.argv.slice(2);
if (dir === undefined || dir === '') {
  console.error('usage: redis-certs <dir> [host...]');
  process.exit(2);
}
if (existsSync(join(dir, 'ca.crt'))) {
  console.log(`[redis-certs] ${dir} already holds ca.crt; keeping the certificates there`);
} else {
  const hosts = hostArgs.length > 0 ? hostArgs : ['redis', 'localhost', '127.0.0.1'];
  const tls = await makeTlsMaterial(hosts);
  mkdirSync(dir, { recursive: true });
  // Redis runs as another user than the one writing here, so the key files are readable by all
  // users of the container; the volume is mounted only by Redis and the apps.
  writeFileSync(join(dir, 'redis.crt'), tls.serverCert, { mode: 0o644 });
  writeFileSync(join(dir, 'redis.key'), tls.serverKey, { mode: 0o644 });
  writeFileSync(join(dir, 'client.crt'), tls.clientCert, { mode: 0o644 });
  writeFileSync(join(dir, 'client.key'), tls.clientKey, { mode: 0o644 });
  writeFileSync(join(dir, 'ca.crt'), tls.caCert, { mode: 0o644 });
  console.log(`[redis-certs] wrote a CA and certificates for ${hosts.join(', ')} to ${dir}`);
}
