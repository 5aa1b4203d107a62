// Verifies one webhook delivery signed with the Standard Webhooks v1a scheme
// (ed25519), as a partner's receiver would, with nothing but Node's built-in
// crypto module. It is written apart from shiphook's Go code, from the
// specification, so that the end-to-end test checks shiphook's signatures
// against an independent implementation.
//
// Input, on standard input, one JSON document:
//
//   {"public_key": "whpk_…",                 // from GET …/endpoints/{id}/secret
//    "headers": {"webhook-id": "…", "webhook-timestamp": "…", "webhook-signature": "…"},
//    "body": "…"}                            // the raw request body, base64
//
// Exit status: 0 and "verified" when one v1a entry of webhook-signature is
// a valid signature of "<webhook-id>.<webhook-timestamp>.<body>" under the
// public key and the timestamp is within five minutes of now; 3 and the
// reason when not; 2 when the input itself is unusable (Node itself exits
// 1 on a crash).
//
//   node verify-v1a.mjs < delivery.json

import { createPublicKey, verify } from 'node:crypto';

const tolerance = 5 * 60; // seconds, either way

function fail(status, reason) {
  process.stdout.write(`${reason}\n`);
  process.exit(status);
}

let text = '';
for await (const chunk of process.stdin) text += chunk;
let input;
try {
  input = JSON.parse(text);
} catch (err) {
  fail(2, `input is not JSON: ${err.message}`);
}

const { public_key: publicKey, headers = {}, body = '' } = input;
if (typeof publicKey !== 'string' || !publicKey.startsWith('whpk_')) {
  fail(2, 'public_key must be a whpk_ key');
}
const raw = Buffer.from(publicKey.slice('whpk_'.length), 'base64');
if (raw.length !== 32) fail(2, 'public_key must hold 32 bytes');
const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });

const id = headers['webhook-id'];
const timestamp = headers['webhook-timestamp'];
const signatures = headers['webhook-signature'];
if (!id || !timestamp || !signatures) fail(3, 'missing webhook-id, webhook-timestamp or webhook-signature');
if (!/^\d+$/.test(timestamp)) fail(3, 'webhook-timestamp is not unix seconds');
if (Math.abs(Date.now() / 1000 - Number(timestamp)) > tolerance) fail(3, 'webhook-timestamp is too far from now');

const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`), Buffer.from(body, 'base64')]);
for (const entry of signatures.split(' ')) {
  const comma = entry.indexOf(',');
  if (comma < 0 || entry.slice(0, comma) !== 'v1a') continue; // v1 and others: not ours to check
  const signature = Buffer.from(entry.slice(comma + 1), 'base64');
  if (signature.length === 64 && verify(null, signed, key, signature)) fail(0, 'verified');
}
fail(3, 'no v1a signature verifies under this public key');
