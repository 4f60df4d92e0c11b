// The customer's inbox: a webhook receiver on the port the destination names.

import { createServer } from "node:http";

export interface Inbox {
  received: string[];
  close(): void;
}

export function inboxStart(port: number): Promise<Inbox> {
  const received: string[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      received.push(body);
      console.log(`inbox: an email arrived (Idempotency-Key ${request.headers["idempotency-key"]})`);
      response.writeHead(204).end();
    });
  });
  return new Promise((done, fail) => {
    server.once("error", fail);
    server.listen(port, "127.0.0.1", () =>
      done({
        received,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      }),
    );
  });
}
