// Reads {"secret", "headers", "body"} as JSON on stdin and verifies the
// delivery with the official Standard Webhooks library.
//
// Exit codes: 0 verified, 1 rejected by the library, 2 bad input or setup.
// On success it prints {"ok":true,"version":"<library version>"}.
//
// The library is resolved from the working directory (where `npm ci` ran), so
// this script can stay in the repository while node_modules lives elsewhere.
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(join(process.cwd(), "package.json"));

function fail(code, msg) {
  process.stderr.write(msg + "\n");
  process.exit(code);
}

let lib, version;
try {
  lib = require("standardwebhooks");
  version = require("standardwebhooks/package.json").version;
} catch (err) {
  fail(2, `cannot load standardwebhooks from ${process.cwd()}: ${err.message}`);
}

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;

let req;
try {
  req = JSON.parse(input);
} catch (err) {
  fail(2, `stdin is not JSON: ${err.message}`);
}
if (typeof req.secret !== "string" || typeof req.body !== "string" || typeof req.headers !== "object") {
  fail(2, 'stdin must be {"secret": string, "headers": object, "body": string}');
}

try {
  new lib.Webhook(req.secret).verify(req.body, req.headers);
} catch (err) {
  if (err instanceof lib.WebhookVerificationError) fail(1, `rejected: ${err.message}`);
  fail(2, `verify threw: ${err.message}`);
}
process.stdout.write(JSON.stringify({ ok: true, version }) + "\n");
