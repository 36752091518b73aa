import net from 'node:net';

/**
 * - `forward`: bytes flow both ways.
 * - `hold`: connections stay open and nothing flows (a partition: the peer neither answers nor
 *   closes); new connections are accepted and held too.
 * - `refuse`: every connection, open or new, is closed at once (a server that is down).
 */
export type ProxyMode = 'forward' | 'hold' | 'refuse';

interface Link {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Held forever: abandoned by `forward({ abandonHeld: true })`, as a peer that lost its state. */
  dead: boolean;
}

/** A TCP proxy in front of Postgres or Redis that a test can stall, cut and heal. */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly links = new Set<Link>();
  private mode: ProxyMode = 'forward';
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  /** Listens on `port` (0: any free port). */
  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as net.AddressInfo).port;
    return this.port;
  }

  hold(): void {
    this.mode = 'hold';
    for (const link of this.links) {
      link.client.pause();
      link.upstream.pause();
    }
  }

  refuse(): void {
    this.mode = 'refuse';
    for (const link of this.links) this.drop(link);
  }

  /**
   * Lets bytes flow again. With `abandonHeld`, connections held so far stay silent forever (their
   * requests never answered), as after a partition whose peer lost the connection's state.
   */
  forward(options: { abandonHeld?: boolean } = {}): void {
    this.mode = 'forward';
    for (const link of this.links) {
      if (options.abandonHeld === true) link.dead = true;
      if (link.dead) continue;
      link.client.resume();
      link.upstream.resume();
    }
  }

  /** Connections open through the proxy, abandoned ones included. */
  get connections(): number {
    return this.links.size;
  }

  async close(): Promise<void> {
    for (const link of this.links) this.drop(link);
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, this.targetHost);
    const link: Link = { client, upstream, dead: false };
    this.links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (!link.dead) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!link.dead) client.write(chunk);
    });
    const end = () => this.drop(link);
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    if (this.mode === 'hold') {
      client.pause();
      upstream.pause();
    }
  }

  private drop(link: Link): void {
    if (!this.links.delete(link)) return;
    link.client.destroy();
    link.upstream.destroy();
  }
}
