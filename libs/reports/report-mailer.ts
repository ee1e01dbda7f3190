import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createTransport, type Transporter } from 'nodemailer';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import type { InlineImage } from './report-email';

export interface OutgoingMail {
  to: string[];
  subject: string;
  html: string;
  text: string;
  attachments?: InlineImage[];
}

/** Sends mail through SMTP_URL. One pooled-free transport: reports are few, and a failed connection must surface per send. */
@Injectable()
export class ReportMailer implements OnApplicationShutdown {
  private readonly transport: Transporter;

  constructor(@Inject(VERDICT_CONFIG) private readonly config: VerdictConfig) {
    this.transport = createTransport(config.smtp.url, { from: config.smtp.from });
  }

  /** Resolves with the message id; rejects with the SMTP error (the caller's job is retried). */
  async send(mail: OutgoingMail): Promise<string> {
    const info = await this.transport.sendMail({
      to: mail.to,
      subject: mail.subject,
      html: mail.html,
      text: mail.text,
      attachments: mail.attachments?.map((a) => ({ filename: a.filename, cid: a.cid, content: a.content, contentType: a.contentType })),
    });
    return String(info.messageId);
  }

  onApplicationShutdown(): void {
    this.transport.close();
  }
}
