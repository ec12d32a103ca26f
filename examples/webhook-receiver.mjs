// A saas-bridge webhook receiver: verifies the Standard Webhooks signature with node:crypto only.
// WEBHOOK_SECRET=whsec_… PORT=9000 node examples/webhook-receiver.mjs
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const key = Buffer.from(process.env.WEBHOOK_SECRET.replace(/^whsec_/, ""), "base64");
const seen = new Set(); // webhook-ids handled already: delivery is at-least-once

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c)).on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    const [id, ts] = [req.headers["webhook-id"], req.headers["webhook-timestamp"]];
    const expected = createHmac("sha256", key).update(`${id}.${ts}.${body}`).digest();
    const valid = String(req.headers["webhook-signature"]).split(" ").some((s) => {
      const sig = Buffer.from(s.slice(3), "base64");
      return s.startsWith("v1,") && sig.length === expected.length && timingSafeEqual(sig, expected);
    });
    // Refuse a bad signature, and an old timestamp (a replay).
    if (!valid || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return res.writeHead(401).end();
    const event = JSON.parse(body);
    if (!seen.has(id)) {
      seen.add(id);
      console.log(id, event.type, event.subject);
    }
    res.writeHead(204).end();
  });
});
server.listen(Number(process.env.PORT ?? 9000), "127.0.0.1", () => console.log(`listening on ${server.address().port}`));
