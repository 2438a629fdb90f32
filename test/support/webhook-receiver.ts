/**
 * A real HTTP endpoint that receives escalation webhooks during the test run. It runs in the
 * vitest process (Node), on a free port of 127.0.0.1; the session objects deliver to it over
 * real HTTP. Tests read what arrived and can make it fail the first N deliveries of a hook.
 *
 *   POST /hooks/<name>          a delivery; answers 500 while failures are configured, else 204
 *   POST /hooks/<name>/fail     body {"times": n}: the next n deliveries answer 500
 *   GET  /hooks/<name>          every delivery received: headers, body, and the status answered
 */
import http from "node:http";

interface Delivery {
	deliveryId: string | undefined;
	signature: string | undefined;
	body: string;
	answered: number;
}

export async function startWebhookReceiver(): Promise<{ url: string; close: () => void }> {
	const deliveries = new Map<string, Delivery[]>();
	const failures = new Map<string, number>();
	const server = http.createServer((request, response) => {
		const chunks: Buffer[] = [];
		request.on("data", (chunk: Buffer) => chunks.push(chunk));
		request.on("end", () => {
			const [, , name, action] = (request.url ?? "").split("/");
			const body = Buffer.concat(chunks).toString("utf8");
			if (request.method === "POST" && action === "fail") {
				failures.set(name, (JSON.parse(body) as { times: number }).times);
				response.writeHead(204).end();
			} else if (request.method === "POST") {
				const failing = failures.get(name) ?? 0;
				const answered = failing > 0 ? 500 : 204;
				if (failing > 0) failures.set(name, failing - 1);
				const list = deliveries.get(name) ?? [];
				list.push({
					deliveryId: request.headers["edgecontext-delivery"] as string | undefined,
					signature: request.headers["edgecontext-signature"] as string | undefined,
					body,
					answered,
				});
				deliveries.set(name, list);
				response.writeHead(answered).end();
			} else {
				response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(deliveries.get(name) ?? []));
			}
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	server.unref();
	const address = server.address() as { port: number };
	return { url: `http://127.0.0.1:${address.port}`, close: () => server.close() };
}
