import { createSocket, type Socket } from 'node:dgram';

/** What the fake server does with a name: its IPv4 address, or no answer at all ('silent'). */
export type FakeDnsAnswer = string;

/**
 * A DNS server on 127.0.0.1 (UDP) for tests: answers A queries for the names it knows, never
 * answers the 'silent' ones (a resolver that hangs), and answers NXDOMAIN for the rest. AAAA
 * queries for known names get no records.
 */
export class FakeDns {
  readonly queries: string[] = [];
  private constructor(
    private readonly socket: Socket,
    private readonly names: ReadonlyMap<string, FakeDnsAnswer>,
  ) {
    socket.on('message', (packet, from) => {
      const reply = this.answer(packet);
      if (reply !== undefined) socket.send(reply, from.port, from.address);
    });
  }

  static async start(names: Record<string, FakeDnsAnswer>): Promise<FakeDns> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new FakeDns(socket, new Map(Object.entries(names)));
  }

  get server(): string {
    return `127.0.0.1:${this.socket.address().port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private answer(packet: Buffer): Buffer | undefined {
    if (packet.length < 17) return undefined;
    // The question: labels from byte 12 to a zero byte, then type and class.
    const labels: string[] = [];
    let at = 12;
    while (at < packet.length && packet[at] !== 0) {
      const length = packet[at] as number;
      labels.push(packet.subarray(at + 1, at + 1 + length).toString('latin1'));
      at += length + 1;
    }
    const questionEnd = at + 5;
    if (questionEnd > packet.length) return undefined;
    const name = labels.join('.').toLowerCase();
    const type = packet.readUInt16BE(at + 1);
    this.queries.push(`${type === 28 ? 'AAAA' : type === 1 ? 'A' : String(type)} ${name}`);
    const known = this.names.get(name);
    if (known === 'silent') return undefined;
    const header = Buffer.alloc(12);
    packet.copy(header, 0, 0, 2); // the query's id
    header.writeUInt16BE(known === undefined ? 0x8183 : 0x8180, 2); // response, recursion; NXDOMAIN or no error
    header.writeUInt16BE(1, 4);
    const question = packet.subarray(12, questionEnd);
    if (known === undefined || type !== 1) return Buffer.concat([header, question]);
    header.writeUInt16BE(1, 6);
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(1, 2); // A
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(60, 6); // TTL
    record.writeUInt16BE(4, 10);
    known.split('.').forEach((octet, i) => record.writeUInt8(Number(octet), 12 + i));
    return Buffer.concat([header, question, record]);
  }
}
