// GET /products/{id} as a minimal Node.js 20 Lambda with the AWS SDK v3: the cold-path peer
// of `cargo xtask bench`. It runs the Lambda Runtime API loop itself (what the managed
// runtime would do) so all three languages are timed through the same fake Runtime API:
// GET next → GetItem (consistent) → POST response.
import http from "node:http";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";

const [host, port] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const table = process.env.TABLE_NAME;
// Built once per cold start, like any Lambda would.
const documents = DynamoDBDocumentClient.from(
  // The service-specific variable first, as the Rust SDK reads them (DynamoDB Local vs moto).
  new DynamoDBClient({
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB ?? process.env.AWS_ENDPOINT_URL,
    region: process.env.AWS_REGION,
  }),
);
const agent = new http.Agent({ keepAlive: true });

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
    const req = http.request({ host, port, method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function respond(statusCode, payload) {
  return {
    statusCode,
    statusDescription: `${statusCode}`,
    headers: { "content-type": statusCode === 200 ? "application/json" : "application/problem+json" },
    body: JSON.stringify(payload),
    isBase64Encoded: false,
  };
}

async function handle(event) {
  const match = /^\/products\/([^/]+)$/.exec(event.path ?? "");
  if (!match) return respond(404, { title: "Not Found", status: 404 });
  const out = await documents.send(
    new GetCommand({ TableName: table, Key: { pk: `PRODUCT#${match[1]}`, sk: "PRODUCT" }, ConsistentRead: true }),
  );
  if (!out.Item || out.Item.status !== "active") return respond(404, { title: "Not Found", status: 404 });
  const product = Object.fromEntries(Object.entries(out.Item).filter(([k]) => !/^(pk|sk|entity|title_words|gsi\d+(pk|sk))$/.test(k)));
  return respond(200, product);
}

for (;;) {
  const next = await call("GET", "/2018-06-01/runtime/invocation/next");
  const id = next.headers["lambda-runtime-aws-request-id"];
  try {
    const result = await handle(JSON.parse(next.body));
    await call("POST", `/2018-06-01/runtime/invocation/${id}/response`, JSON.stringify(result));
  } catch (err) {
    const body = JSON.stringify({ errorType: err?.name ?? "Error", errorMessage: String(err?.message ?? err) });
    await call("POST", `/2018-06-01/runtime/invocation/${id}/error`, body);
  }
}
