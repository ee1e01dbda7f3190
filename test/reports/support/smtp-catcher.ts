import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export interface CaughtMail {
  from: string;
  to: string[];
  raw: string;
  at: number;
}

/**
 * A real SMTP server in-process. `refuse(address, n)` makes the next n deliveries to that
 * address fail with a temporary 451, as a relay that is down or overloaded would. With
 * `auth`, it requires AUTH (over plain text, on loopback) with those credentials.
 */
export class SmtpCatcher {
  readonly messages: CaughtMail[] = [];
  refused = 0;
  /** Successful logins, when auth is required. */
  logins = 0;
  private readonly refusals = new Map<string, number>();
  private readonly server: SMTPServer;

  constructor(options: { auth?: { user: string; pass: string } } = {}) {
    const { auth } = options;
    this.server = new SMTPServer({
      authOptional: !auth,
      allowInsecureAuth: true,
      disabledCommands: auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
      onAuth: (login, _session, callback) => {
        if (!auth || login.username !== auth.user || login.password !== auth.pass) return callback(new Error('Invalid username or password'));
        this.logins++;
        callback(null, { user: login.username });
      },
      logger: false,
      onRcptTo: (address, _session, callback) => {
        const left = this.refusals.get(address.address) ?? 0;
        if (left > 0) {
          this.refusals.set(address.address, left - 1);
          this.refused++;
          return callback(Object.assign(new Error('Mail relay unavailable, try again later'), { responseCode: 451 }));
        }
        callback();
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          this.messages.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
            at: Date.now(),
          });
          callback();
        });
      },
    });
  }

  /** The SMTP_URL to reach it (without credentials). */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.server.address() as AddressInfo;
    return `smtp://127.0.0.1:${port}`;
  }

  refuse(address: string, count: number): void {
    this.refusals.set(address, count);
  }

  to(address: string): CaughtMail[] {
    return this.messages.filter((m) => m.to.includes(address));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
