import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { parseAllDocuments, parse } from 'yaml';
import { SERVICES } from '#contracts';
import { baseEnvSchema } from '#service-kit';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');

interface Doc { kind: string; metadata: { name: string; namespace?: string }; spec?: Record<string, unknown> }
interface Container { image: string; command: string[]; envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]; resources?: { requests?: object; limits?: object }; readinessProbe?: { httpGet?: { path: string } }; livenessProbe?: { httpGet?: { path: string } }; env?: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] }

async function render(overlay: string): Promise<Doc[]> {
  const { stdout } = await exec('kubectl', ['kustomize', join(ROOT, 'infra', 'k8s', 'overlays', overlay)]);
  return parseAllDocuments(stdout).map((d) => d.toJSON() as Doc);
}

/** The services with an operator console (drone-sim runs no machines). */
const CONSOLES = SERVICES.filter((s) => s !== 'drone-sim');
/** RSM_CONSOLE_SERVICES as the apps read it (their own validation), by service name. */
const consoleServices = (value: string | undefined): Record<string, string> => baseEnvSchema.shape.RSM_CONSOLE_SERVICES.parse(value) ?? {};

const containerOf = (d: Doc) => ((d.spec?.template as { spec: { containers: Container[] } }).spec.containers[0] as Container);

describe('deployment manifests', () => {
  for (const overlay of ['local', 'production']) {
    it(`renders the ${overlay} overlay with a complete deployment for every app`, async () => {
      const docs = await render(overlay);
      for (const app of SERVICES) {
        const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === app);
        assert.ok(deployment, `${app}: Deployment`);
        const c = containerOf(deployment);
        assert.deepEqual(c.command, ['node', `dist/apps/${app}/main.mjs`]);
        assert.equal(c.readinessProbe?.httpGet?.path, '/health/ready');
        assert.equal(c.livenessProbe?.httpGet?.path, '/health/live');
        assert.ok(c.resources?.requests && c.resources.limits, `${app}: requests and limits`);
        assert.ok(c.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef, `${app}: the database URL comes from a Secret`);
        const keysSecret = c.envFrom?.find((e) => e.secretRef?.name.startsWith('tailspin-api-keys') === true)?.secretRef?.name;
        assert.ok(keysSecret, `${app}: the API keys come from a Secret`);
        if (overlay === 'local') assert.ok(docs.some((d) => d.kind === 'Secret' && d.metadata.name === keysSecret), 'the local overlay makes its keys Secret');
        else assert.ok(!docs.some((d) => d.kind === 'Secret' && d.metadata.name.startsWith('tailspin-api-keys')), 'production keys are not in the repository');
        for (const kind of ['Service', 'PodDisruptionBudget', 'HorizontalPodAutoscaler']) {
          assert.ok(docs.some((d) => d.kind === kind && d.metadata.name === app), `${app}: ${kind}`);
        }
        assert.ok(docs.filter((d) => d.kind !== 'Namespace').every((d) => d.metadata.namespace === (overlay === 'local' ? 'tailspin-local' : 'tailspin')));
      }
      assert.ok(docs.some((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('tailspin-config')), 'settings in a ConfigMap');
      // Redis over TLS with client certificates that cert-manager makes and renews.
      const certificates = docs.filter((d) => d.kind === 'Certificate').map((d) => d.metadata.name).sort();
      assert.deepEqual(certificates, ['tailspin-redis-ca', 'tailspin-redis-client', 'tailspin-redis-server']);
      const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('tailspin-config')) as Doc & { data: Record<string, string> };
      assert.equal(config.data.REDIS_TLS_CA_FILE, '/etc/redis-tls/ca.crt');
      for (const app of SERVICES) {
        const pod = (docs.find((d) => d.kind === 'Deployment' && d.metadata.name === app)?.spec?.template as { spec: { volumes?: { name: string; secret?: { secretName: string } }[] } }).spec;
        assert.equal(pod.volumes?.find((v) => v.name === 'redis-tls')?.secret?.secretName, 'tailspin-redis-client', `${app} mounts the client certificate`);
      }
    });
  }

  it('runs three replicas of every worker in production, from the registry image and the operator-made database secret', async () => {
    const docs = await render('production');
    for (const app of SERVICES.filter((s) => s !== 'drone-sim')) {
      const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === app) as Doc;
      assert.equal(deployment.spec?.replicas, 3);
      const c = containerOf(deployment);
      assert.equal(c.image, 'registry.example.com/tailspin/tailspin-rsm:0.1.0');
      assert.deepEqual(c.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef, { name: 'tailspin-pg-app', key: 'uri' });
    }
    assert.ok(docs.some((d) => d.kind === 'Cluster'), 'a CloudNativePG cluster');
  });

  it('tells each console where a browser reaches the others: in Kubernetes, the README\'s port-forwards of each Service', async () => {
    // No overlay publishes the apps (no Ingress, no NodePort or LoadBalancer), so what a browser reaches is a port-forward.
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = readme.slice(readme.indexOf('<!-- console-port-forwards -->'));
    const forwards = new Map([...block.slice(0, block.indexOf('```', block.indexOf('```') + 3)).matchAll(/^kubectl -n tailspin port-forward svc\/(\S+) (\d+):(\d+) &$/gm)].map((m) => [m[1], { local: m[2], remote: m[3] }]));
    assert.deepEqual([...forwards.keys()].sort(), [...CONSOLES].sort(), 'the README forwards every service with a console');
    for (const overlay of ['local', 'production']) {
      const docs = await render(overlay);
      assert.ok(!docs.some((d) => d.kind === 'Ingress' || (d.kind === 'Service' && ['NodePort', 'LoadBalancer'].includes(String(d.spec?.type)))), `${overlay}: nothing published outside the cluster`);
      const config = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name.startsWith('tailspin-config')) as Doc & { data: Record<string, string> };
      const urls = consoleServices(config.data.RSM_CONSOLE_SERVICES);
      assert.deepEqual(Object.keys(urls).sort(), [...CONSOLES].sort(), `${overlay}: every console named`);
      for (const app of CONSOLES) {
        const url = new URL(urls[app] ?? '');
        const service = docs.find((d) => d.kind === 'Service' && d.metadata.name === app) as Doc & { spec: { ports: { port: number }[] } };
        assert.equal(url.hostname, 'localhost', `${overlay}: ${app} on this machine`);
        assert.equal(url.port, forwards.get(app)?.local, `${overlay}: ${app} where the README forwards it`);
        assert.equal(forwards.get(app)?.remote, String(service.spec.ports[0]?.port), `${overlay}: the README forwards ${app}'s Service port`);
      }
      for (const app of SERVICES) {
        const c = containerOf(docs.find((d) => d.kind === 'Deployment' && d.metadata.name === app) as Doc);
        assert.ok(c.envFrom?.some((e) => e.configMapRef?.name === config.metadata.name), `${overlay}: ${app} reads the ConfigMap`);
      }
    }
  });

  it('has a compose file that docker-compose accepts, with pinned images and health-gated start', async () => {
    const { stdout } = await exec('docker-compose', ['-f', join(ROOT, 'docker-compose.yml'), 'config']);
    const compose = parse(stdout) as { services: Record<string, { image?: string; restart?: string; command?: string[]; depends_on?: Record<string, { condition: string }>; healthcheck?: object }> };
    for (const [name, service] of Object.entries(compose.services)) {
      assert.ok(service.image !== undefined && !service.image.endsWith(':latest') && service.image.includes(':'), `${name}: pinned image (${service.image})`);
      // A one-shot (restart: no) is waited for by the services that need it to finish instead.
      assert.ok(service.healthcheck !== undefined || name === 'grafana' || service.restart === 'no', `${name}: health check`);
    }
    // Redis speaks only TLS and asks for client certificates, made before it starts.
    const redisArgs = compose.services.redis?.command ?? [];
    for (const [flag, value] of [['--port', '0'], ['--tls-port', '6379'], ['--tls-auth-clients', 'yes']] as const) assert.equal(redisArgs[redisArgs.indexOf(flag) + 1], value, `redis ${flag}`);
    assert.equal(compose.services.redis?.depends_on?.['redis-certs']?.condition, 'service_completed_successfully');
    for (const app of SERVICES) {
      assert.equal(compose.services[app]?.depends_on?.postgres?.condition, 'service_healthy');
      assert.equal(compose.services[app]?.depends_on?.redis?.condition, 'service_healthy');
    }
    assert.ok(compose.services.prometheus && compose.services.grafana);
    const environment = (compose.services as Record<string, { environment?: Record<string, string> }>).ingestion?.environment ?? {};
    for (const setting of ['CUSTOMER_API_KEYS', 'SERVICE_API_KEYS', 'OPERATOR_API_KEYS']) assert.ok((environment[setting] ?? '').length >= 24, `compose sets ${setting}`);
    assert.match(environment.REDIS_URL ?? '', /^rediss:\/\//, 'the apps reach Redis over TLS');
    for (const setting of ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE']) assert.match(environment[setting] ?? '', /^\/tls\//, `compose sets ${setting}`);
    // Every app's console links to the others at the ports compose publishes on the Docker host.
    const apps = compose.services as Record<string, { environment?: Record<string, string>; ports?: { published: number | string; target: number | string }[] }>;
    for (const app of SERVICES) {
      const urls = consoleServices(apps[app]?.environment?.RSM_CONSOLE_SERVICES);
      assert.deepEqual(Object.keys(urls).sort(), [...CONSOLES].sort(), `${app}: every console named`);
      for (const other of CONSOLES) {
        const url = new URL(urls[other] ?? '');
        const published = apps[other]?.ports?.find((p) => String(p.target) === apps[other]?.environment?.PORT)?.published;
        assert.equal(url.hostname, 'localhost', `${app}: ${other} on the Docker host`);
        assert.equal(url.port, String(published), `${app}: ${other} at the port compose publishes`);
      }
    }
  });
});
